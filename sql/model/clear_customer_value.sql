-- Empty the run's per-customer predictions before they are written again (a profile run leaves it empty).
-- No parameters.
TRUNCATE segmentation_work.customer_value;
