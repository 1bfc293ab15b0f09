-- The orders a run quarantined, the orders its rollup read, and the count of each reason.
-- Parameter: run_id.
SELECT (SELECT count(*) FROM segmentation_restricted.quarantined_orders WHERE run_id = %(run_id)s) AS quarantined,
       (SELECT orders_read FROM segmentation_work.order_rollup_state LIMIT 1) AS read,
       (SELECT coalesce(json_object_agg(reason, n), '{{}}')::text
        FROM (SELECT reason, count(*) AS n
              FROM segmentation_restricted.quarantined_orders, unnest(reasons) AS reason
              WHERE run_id = %(run_id)s GROUP BY reason) AS r) AS reasons;
