-- What one pipeline run of the orders benchmark did: its mode, the customers it extracted, quarantined,
-- modelled and published, the order rows its rollup refresh read, and the customers its value models were
-- fitted on (all of them, and those with a repeat purchase). Parameter: run_id.
SELECT r.mode, r.rows_extracted, r.rows_quarantined, r.rows_modelled, r.rows_published,
       (SELECT max(s.orders_read) FROM segmentation_work.order_rollup_state AS s) AS orders_read,
       v.fit_customers, v.repeat_customers
FROM segmentation.pipeline_runs AS r
LEFT JOIN segmentation.value_models AS v ON v.run_id = r.run_id
WHERE r.run_id = %(run_id)s
