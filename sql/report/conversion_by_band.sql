-- Conversion analysis of one banded dimension of a run's published customers, into conversion_by_band.
-- Identifier value_column: the banded column of customer_segments. Parameters: run_id, dimension,
-- lower_bounds, unknown_order, and the bands as parallel arrays band_orders, band_labels, band_lowers, band_uppers.
INSERT INTO segmentation.conversion_by_band (
    run_id, dimension, band_order, band_label, lower, upper, customers, responders, response_rate, ci_low,
    ci_high, mean_conversion, zero_visit_customers, purchases_per_visit)
WITH placed AS (
    -- width_bucket places each customer among the ascending lower_bounds; NULL values go to unknown_order.
    SELECT CASE WHEN c.{value_column} IS NULL THEN %(unknown_order)s::integer
                ELSE width_bucket(c.{value_column}::double precision, %(lower_bounds)s::double precision[]) END
               AS band_order,
           c.response, c.web_visits_month, c.frequency
    FROM segmentation.customer_segments AS c
    WHERE c.run_id = %(run_id)s
), bands AS (
    SELECT *
    FROM unnest(%(band_orders)s::integer[], %(band_labels)s::text[], %(band_lowers)s::double precision[],
                %(band_uppers)s::double precision[]) AS band (band_order, band_label, lower, upper)
), stats AS (
    SELECT b.band_order, b.band_label, b.lower, b.upper,
           count(p.band_order) AS customers,
           count(*) FILTER (WHERE p.response = 1) AS responders,
           -- Conversion per web visit; customers without visits have none and are counted apart.
           avg(p.response / p.web_visits_month) FILTER (WHERE p.web_visits_month > 0) AS mean_conversion,
           count(*) FILTER (WHERE p.web_visits_month = 0) AS zero_visit_customers,
           sum(p.frequency) FILTER (WHERE p.web_visits_month > 0) / nullif(sum(p.web_visits_month), 0)
               AS purchases_per_visit
    FROM bands AS b
    LEFT JOIN placed AS p USING (band_order)
    GROUP BY b.band_order, b.band_label, b.lower, b.upper
)
SELECT %(run_id)s, %(dimension)s, s.band_order, s.band_label, s.lower, s.upper, s.customers, s.responders,
       s.responders::double precision / nullif(s.customers, 0), w.low, w.high, s.mean_conversion,
       s.zero_visit_customers, s.purchases_per_visit
FROM stats AS s
CROSS JOIN LATERAL segmentation.wilson_interval(s.responders, s.customers) AS w
-- Bands with bounds are kept even when empty; the open band below the first bound and the unknown band
-- only when they hold customers.
WHERE s.customers > 0 OR s.lower IS NOT NULL;
