-- The run's work tables are emptied and refilled by every run: autovacuum, woken by ten million inserts,
-- would scan them while the run itself does (and a TRUNCATE cancels it anyway). The pipeline analyses
-- them itself once they are filled (tasks/db/sql.py analyze_for_planning).
ALTER TABLE segmentation_work.customers_extract SET (autovacuum_enabled = false);
ALTER TABLE segmentation_work.customer_features SET (autovacuum_enabled = false);
