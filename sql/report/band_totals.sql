-- One scan of a run's published customers into the temporary table run_band_totals (dropped at commit):
-- per segment and combination of bands (band_1, band_2, ...: the customer's band in each dimension of the
-- bands file, in its order), the counts and sums the conversion tables add up, so that each dimension's
-- table (conversion_by_band.sql) and the segments' (conversion_by_segment.sql) read these few rows instead
-- of the customers. Fragments: band_orders, one band_order.sql expression per dimension, named band_1, ...;
-- band_columns, those names. Parameters: run_id, and those of the band_orders expressions.
CREATE TEMPORARY TABLE run_band_totals ON COMMIT DROP AS
SELECT c.segment_id, c.segment_name, c.tier, {band_orders},
       count(*) AS customers,
       count(*) FILTER (WHERE c.response = 1) AS responders,
       -- Conversion per web visit; customers without visits have none and are counted apart.
       sum(c.response / c.web_visits_month) FILTER (WHERE c.web_visits_month > 0) AS conversion_sum,
       count(c.response) FILTER (WHERE c.web_visits_month > 0) AS converting_customers,
       count(*) FILTER (WHERE c.web_visits_month = 0) AS zero_visit_customers,
       sum(c.frequency) FILTER (WHERE c.web_visits_month > 0) AS visitor_purchases,
       sum(c.web_visits_month) AS web_visits,
       sum(c.monetary) AS monetary_sum, count(c.monetary) AS monetary_customers
FROM segmentation.customer_segments AS c
WHERE c.run_id = %(run_id)s
GROUP BY c.segment_id, c.segment_name, c.tier, {band_columns}
