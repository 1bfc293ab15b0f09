-- Empty the run's RFM summary before it is computed again. No parameters.
TRUNCATE segmentation_work.customer_rfm;
