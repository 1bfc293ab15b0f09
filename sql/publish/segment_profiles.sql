-- segment_profiles of a run, from the audited rows it is publishing (the staging table, all of this run).
-- Parameters: run_id, window_years.
INSERT INTO segmentation.segment_profiles (
    run_id, model_version, segment_id, segment_name, tier, customers, share,
    mean_recency_days, mean_frequency, mean_monetary, mean_tenure_days, mean_campaign_acceptances,
    mean_income, mean_age, gmv_total, gmv_annual, gmv_annual_per_customer, response_rate, conversion_rate,
    recommended_action)
SELECT c.run_id, c.model_version, c.segment_id, c.segment_name, c.tier,
       count(*), count(*)::double precision / sum(count(*)) OVER (),
       avg(c.recency_days), avg(c.frequency), avg(c.monetary), avg(c.tenure_days), avg(c.campaign_acceptances),
       avg(c.income), avg(c.age),
       sum(c.monetary), sum(c.monetary) / %(window_years)s, sum(c.monetary) / %(window_years)s / count(*),
       avg(c.response::double precision),
       coalesce(avg(c.conversion_rate) FILTER (WHERE c.web_visits_month > 0), 0),
       c.recommended_action
FROM segmentation_work.customer_segments_staging AS c
GROUP BY c.run_id, c.model_version, c.segment_id, c.segment_name, c.tier, c.recommended_action
ON CONFLICT (run_id, segment_id) DO NOTHING;
