-- Empty the published RFM summary inside the publish transaction, before the run's rows replace it.
-- No parameters.
TRUNCATE segmentation.customer_rfm;
