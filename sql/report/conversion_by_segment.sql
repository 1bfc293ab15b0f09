-- Conversion analysis by segment of a run's published customers (same measures as conversion_by_band.sql),
-- from the run's band totals (band_totals.sql, earlier in the same transaction). Segments in tier order
-- (Platinum first), then by spend per customer. Parameter: run_id.
INSERT INTO segmentation.conversion_by_band (
    run_id, dimension, band_order, band_label, lower, upper, customers, responders, response_rate, ci_low,
    ci_high, mean_conversion, zero_visit_customers, purchases_per_visit)
WITH stats AS (
    SELECT t.segment_name,
           row_number() OVER (ORDER BY array_position(ARRAY['Platinum', 'Gold', 'Silver', 'Bronze'], t.tier),
                                       sum(t.monetary_sum) / nullif(sum(t.monetary_customers), 0) DESC,
                                       t.segment_id) AS band_order,
           sum(t.customers)::bigint AS customers,
           sum(t.responders)::bigint AS responders,
           sum(t.conversion_sum) / nullif(sum(t.converting_customers), 0) AS mean_conversion,
           sum(t.zero_visit_customers)::bigint AS zero_visit_customers,
           sum(t.visitor_purchases) / nullif(sum(t.web_visits), 0) AS purchases_per_visit
    FROM run_band_totals AS t
    GROUP BY t.segment_id, t.segment_name, t.tier
)
SELECT %(run_id)s, 'segment', s.band_order, s.segment_name, NULL, NULL, s.customers, s.responders,
       s.responders::double precision / s.customers, w.low, w.high, s.mean_conversion, s.zero_visit_customers,
       s.purchases_per_visit
FROM stats AS s
CROSS JOIN LATERAL segmentation.wilson_interval(s.responders, s.customers) AS w;
