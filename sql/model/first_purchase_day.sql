-- The earliest purchase day rolled up: where the holdout check's history starts. No parameters.
SELECT min(purchase_day) FROM segmentation_work.order_days;
