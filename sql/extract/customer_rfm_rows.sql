-- How many customers the run's RFM summary has. No parameters.
SELECT count(*) FROM segmentation_work.customer_rfm;
