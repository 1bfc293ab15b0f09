-- Store a freshly trained model as a candidate (publish activates it) and return its model_version.
-- Parameters: run_id, as_of, recipe_name, features, training_rows, fingerprint, and as JSON text recipe,
-- preprocessing, centroids, metrics, baseline.
INSERT INTO segmentation.models (run_id, as_of, recipe_name, recipe, features, preprocessing, centroids, metrics,
                                 training_rows, training_fingerprint, feature_baseline, status)
VALUES (%(run_id)s, %(as_of)s, %(recipe_name)s, CAST(%(recipe)s AS jsonb), %(features)s,
        CAST(%(preprocessing)s AS jsonb), CAST(%(centroids)s AS jsonb), CAST(%(metrics)s AS jsonb),
        %(training_rows)s, %(fingerprint)s, CAST(%(baseline)s AS jsonb), 'candidate')
RETURNING model_version;
