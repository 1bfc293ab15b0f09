-- segment_profiles of a run, from the audited rows it is publishing (the staging table, all of this run):
-- one row per segment, in segment_profiles' columns. Parameters: run_id, window_years. It only reads the
-- staged rows, so another connection computes it before the publish transaction, at once with the
-- history's changes (tasks/publish.py); the transaction inserts the rows.
-- The scan groups by segment id alone and sums: grouping by the name, tier and action texts and using
-- avg() (which also accumulates squares) took twice as long at ten million customers. The texts are the
-- model's (the audit checked every staged segment, name and tier against segmentation.model_segments).
-- Means divide by the count of non-null values, as avg() does.
SELECT p.run_id, p.model_version, p.segment_id, m.segment_name, m.tier,
       p.customers, p.customers::double precision / sum(p.customers) OVER () AS share,
       p.recency_days / p.customers_with_recency AS mean_recency_days,
       p.frequency / p.customers_with_frequency AS mean_frequency,
       p.monetary / p.customers_with_monetary AS mean_monetary,
       p.tenure_days / p.customers_with_tenure AS mean_tenure_days,
       p.campaign_acceptances / p.customers_with_acceptances AS mean_campaign_acceptances,
       p.income / p.customers_with_income AS mean_income,
       p.age / p.customers_with_age AS mean_age,
       p.monetary AS gmv_total, p.monetary / %(window_years)s AS gmv_annual,
       p.monetary / %(window_years)s / p.customers AS gmv_annual_per_customer,
       p.responses::double precision / p.customers_with_response AS response_rate,
       coalesce(p.conversion_rate / p.customers_with_visits, 0) AS conversion_rate,
       m.recommended_action
FROM (
    SELECT c.run_id, c.model_version, c.segment_id, count(*) AS customers,
           sum(c.recency_days) AS recency_days, count(c.recency_days) AS customers_with_recency,
           sum(c.frequency) AS frequency, count(c.frequency) AS customers_with_frequency,
           sum(c.monetary) AS monetary, count(c.monetary) AS customers_with_monetary,
           sum(c.tenure_days) AS tenure_days, count(c.tenure_days) AS customers_with_tenure,
           sum(c.campaign_acceptances) AS campaign_acceptances,
           count(c.campaign_acceptances) AS customers_with_acceptances,
           sum(c.income) AS income, count(c.income) AS customers_with_income,
           sum(c.age) AS age, count(c.age) AS customers_with_age,
           sum(c.response) AS responses, count(c.response) AS customers_with_response,
           sum(c.conversion_rate) FILTER (WHERE c.web_visits_month > 0) AS conversion_rate,
           nullif(count(c.conversion_rate) FILTER (WHERE c.web_visits_month > 0), 0) AS customers_with_visits
    FROM segmentation_work.customer_segments_staging AS c
    GROUP BY c.run_id, c.model_version, c.segment_id
) AS p
JOIN segmentation.model_segments AS m ON m.model_version = p.model_version AND m.segment_id = p.segment_id
ORDER BY p.segment_id
