-- The latest purchase day rolled up: the default as_of of an orders run (as lifetimes' observation end).
-- No parameters.
SELECT max(purchase_day) FROM segmentation_work.order_days;
