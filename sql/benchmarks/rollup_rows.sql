-- The rows of the per-customer-per-day rollup (how many purchase days in all). No parameters.
SELECT count(*) FROM segmentation_work.order_days
