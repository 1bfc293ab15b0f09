-- Make one filled part of the run's features (sql/features/customer_features.sql) a table that inherits
-- segmentation_work.customer_features, whose readers then read its rows. The placeholder part is its name.
-- No parameters.
ALTER TABLE {part} INHERIT segmentation_work.customer_features
