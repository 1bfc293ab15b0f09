-- Conversion analysis by segment of a run's published customers (same measures as conversion_by_band.sql).
-- Segments in tier order (Platinum first), then by spend per customer. Parameter: run_id.
INSERT INTO segmentation.conversion_by_band (
    run_id, dimension, band_order, band_label, lower, upper, customers, responders, response_rate, ci_low,
    ci_high, mean_conversion, zero_visit_customers, purchases_per_visit)
WITH stats AS (
    SELECT c.segment_name,
           row_number() OVER (ORDER BY array_position(ARRAY['Platinum', 'Gold', 'Silver', 'Bronze'], c.tier),
                                       avg(c.monetary) DESC, c.segment_id) AS band_order,
           count(*) AS customers,
           count(*) FILTER (WHERE c.response = 1) AS responders,
           avg(c.response / c.web_visits_month) FILTER (WHERE c.web_visits_month > 0) AS mean_conversion,
           count(*) FILTER (WHERE c.web_visits_month = 0) AS zero_visit_customers,
           sum(c.frequency) FILTER (WHERE c.web_visits_month > 0) / nullif(sum(c.web_visits_month), 0)
               AS purchases_per_visit
    FROM segmentation.customer_segments AS c
    WHERE c.run_id = %(run_id)s
    GROUP BY c.segment_id, c.segment_name, c.tier
)
SELECT %(run_id)s, 'segment', s.band_order, s.segment_name, NULL, NULL, s.customers, s.responders,
       s.responders::double precision / s.customers, w.low, w.high, s.mean_conversion, s.zero_visit_customers,
       s.purchases_per_visit
FROM stats AS s
CROSS JOIN LATERAL segmentation.wilson_interval(s.responders, s.customers) AS w;
