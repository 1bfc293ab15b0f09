-- segment_profiles of a run, from the audited rows it is publishing: one row per segment, in
-- segment_profiles' columns (insert_segment_profile.sql inserts them under these names).
-- Parameters: run_id, window_years.

-- From the staged rows' totals the audit summed (segmentation_work.staged_totals:
-- sql/publish/staged_totals.sql), a handful of rows. The texts are the model's (the audit checked every
-- staged segment, name and tier against segmentation.model_segments). Means divide by the count of
-- non-null values, as avg() does.
SELECT p.run_id, p.model_version, p.segment_id, m.segment_name, m.tier,
       p.customers, p.customers::double precision / sum(p.customers) OVER () AS share,
       p.recency_days / nullif(p.customers_with_recency, 0) AS mean_recency_days,
       p.frequency / nullif(p.customers_with_frequency, 0) AS mean_frequency,
       p.monetary / nullif(p.customers_with_monetary, 0) AS mean_monetary,
       p.tenure_days / nullif(p.customers_with_tenure, 0) AS mean_tenure_days,
       p.campaign_acceptances / nullif(p.customers_with_acceptances, 0) AS mean_campaign_acceptances,
       p.income / nullif(p.customers_with_income, 0) AS mean_income,
       p.age / nullif(p.customers_with_age, 0) AS mean_age,
       p.monetary AS gmv_total, p.monetary / %(window_years)s AS gmv_annual,
       p.monetary / %(window_years)s / p.customers AS gmv_annual_per_customer,
       p.responses::double precision / nullif(p.customers_with_response, 0) AS response_rate,
       coalesce(p.conversion_rate / p.customers_with_visits, 0) AS conversion_rate,
       m.recommended_action, p.expected_value_365d
FROM (
    SELECT t.run_id, t.model_version, t.segment_id, sum(t.customers)::bigint AS customers,
           sum(t.recency_days) AS recency_days, sum(t.customers_with_recency)::bigint AS customers_with_recency,
           sum(t.frequency) AS frequency, sum(t.customers_with_frequency)::bigint AS customers_with_frequency,
           sum(t.monetary) AS monetary, sum(t.customers_with_monetary)::bigint AS customers_with_monetary,
           sum(t.tenure_days) AS tenure_days, sum(t.customers_with_tenure)::bigint AS customers_with_tenure,
           sum(t.campaign_acceptances) AS campaign_acceptances,
           sum(t.customers_with_acceptances)::bigint AS customers_with_acceptances,
           sum(t.income) AS income, sum(t.customers_with_income)::bigint AS customers_with_income,
           sum(t.age) AS age, sum(t.customers_with_age)::bigint AS customers_with_age,
           sum(t.responses)::bigint AS responses, sum(t.customers_with_response)::bigint AS customers_with_response,
           sum(t.conversion_rate) AS conversion_rate,
           nullif(sum(t.customers_with_visits), 0)::bigint AS customers_with_visits,
           sum(t.expected_value_365d) AS expected_value_365d
    FROM segmentation_work.staged_totals AS t
    GROUP BY t.run_id, t.model_version, t.segment_id
) AS p
JOIN segmentation.model_segments AS m ON m.model_version = p.model_version AND m.segment_id = p.segment_id
ORDER BY p.segment_id
