-- Attach a filled staging partition (placeholder partition) to segmentation_work.customer_segments_staging
-- for its range of ids: fragments lower and upper are MINVALUE / MAXVALUE or the parameters lower / upper,
-- bound by psycopg into the text (DDL takes no parameters).
ALTER TABLE segmentation_work.customer_segments_staging ATTACH PARTITION {partition}
    FOR VALUES FROM ({lower}) TO ({upper})
