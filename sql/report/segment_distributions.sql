-- Distribution of income, age and spend per segment of a run's published customers, for box plots:
-- 5th, 25th, 50th, 75th, 95th percentiles and the mean (percentiles in SQL, so any N fits). Parameter: run_id.
SELECT c.segment_id, m.measure,
       count(m.value) AS customers,
       percentile_cont(ARRAY[0.05, 0.25, 0.5, 0.75, 0.95]) WITHIN GROUP (ORDER BY m.value) AS percentiles,
       avg(m.value) AS mean
FROM segmentation.customer_segments AS c
CROSS JOIN LATERAL (VALUES ('income', c.income), ('age', c.age), ('monetary', c.monetary)) AS m (measure, value)
WHERE c.run_id = %(run_id)s AND m.value IS NOT NULL
GROUP BY c.segment_id, m.measure
ORDER BY c.segment_id, m.measure;
