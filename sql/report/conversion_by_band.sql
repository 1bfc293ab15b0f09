-- Conversion analysis of one banded dimension of a run's published customers, into conversion_by_band,
-- from the run's band totals (band_totals.sql, earlier in the same transaction). Identifier band_column:
-- the dimension's column of run_band_totals. Parameters: run_id, dimension, and the bands as parallel
-- arrays band_orders, band_labels, band_lowers, band_uppers.
INSERT INTO segmentation.conversion_by_band (
    run_id, dimension, band_order, band_label, lower, upper, customers, responders, response_rate, ci_low,
    ci_high, mean_conversion, zero_visit_customers, purchases_per_visit)
WITH placed AS (
    SELECT t.{band_column} AS band_order,
           sum(t.customers) AS customers, sum(t.responders) AS responders,
           sum(t.conversion_sum) AS conversion_sum, sum(t.converting_customers) AS converting_customers,
           sum(t.zero_visit_customers) AS zero_visit_customers,
           sum(t.visitor_purchases) AS visitor_purchases, sum(t.web_visits) AS web_visits
    FROM run_band_totals AS t
    GROUP BY 1
), bands AS (
    SELECT *
    FROM unnest(%(band_orders)s::integer[], %(band_labels)s::text[], %(band_lowers)s::double precision[],
                %(band_uppers)s::double precision[]) AS band (band_order, band_label, lower, upper)
), stats AS (
    SELECT b.band_order, b.band_label, b.lower, b.upper,
           coalesce(p.customers, 0)::bigint AS customers,
           coalesce(p.responders, 0)::bigint AS responders,
           -- Conversion per web visit; customers without visits have none and are counted apart.
           p.conversion_sum / nullif(p.converting_customers, 0) AS mean_conversion,
           coalesce(p.zero_visit_customers, 0)::bigint AS zero_visit_customers,
           p.visitor_purchases / nullif(p.web_visits, 0) AS purchases_per_visit
    FROM bands AS b
    LEFT JOIN placed AS p USING (band_order)
)
SELECT %(run_id)s, %(dimension)s, s.band_order, s.band_label, s.lower, s.upper, s.customers, s.responders,
       s.responders::double precision / nullif(s.customers, 0), w.low, w.high, s.mean_conversion,
       s.zero_visit_customers, s.purchases_per_visit
FROM stats AS s
CROSS JOIN LATERAL segmentation.wilson_interval(s.responders, s.customers) AS w
-- Bands with bounds are kept even when empty; the open band below the first bound and the unknown band
-- only when they hold customers.
WHERE s.customers > 0 OR s.lower IS NOT NULL;
