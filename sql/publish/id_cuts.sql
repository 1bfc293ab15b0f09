-- Customer ids at the given fractions of a sample of segmentation_work.customer_features' ids (whole pages,
-- the same pages each time): the cuts between ranges of about equal size. Parameters: fractions, percent.
SELECT percentile_disc(CAST(%(fractions)s AS float8[])) WITHIN GROUP (ORDER BY customer_id)
FROM segmentation_work.customer_features TABLESAMPLE SYSTEM (%(percent)s) REPEATABLE (0)
