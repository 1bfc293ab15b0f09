-- Empty the per-customer-per-day rollup of orders before it is rebuilt from every order (a full refresh).
-- No parameters.
TRUNCATE segmentation_work.order_days;
