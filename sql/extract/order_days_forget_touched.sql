-- Drop the rollup rows of the customers touched since the last refresh: they are rolled up again whole,
-- so late, corrected and updated orders count once. No parameters.
DELETE FROM segmentation_work.order_days AS d
USING touched_customers AS t
WHERE d.customer_id = t.customer_id;
