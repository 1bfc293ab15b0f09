-- Each reason a run's quarantined customers were quarantined for, with how many it names, most first; a
-- duplicate's reason (duplicate_of:<id>, duplicate_group_of:<id>) without its id. Parameter: run_id.
SELECT split_part(reason, ':', 1) AS reason, count(*) AS customers
FROM segmentation_restricted.quarantined_customers, unnest(reasons) AS reason
WHERE run_id = %(run_id)s
GROUP BY 1
ORDER BY 2 DESC;
