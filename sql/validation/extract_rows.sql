-- How many customers the run's extract holds (segmentation_work.customers_extract). No parameters.
SELECT count(*) FROM segmentation_work.customers_extract;
