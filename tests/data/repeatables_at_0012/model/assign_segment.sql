-- In-database scoring: place a customer with the ACTIVE model, exactly as tasks/model.py does in Python.
-- Per feature (segmentation.models.preprocessing, in centroid column order):
--   scaled = (transform(clip(coalesce(x, impute_value), cap_low, cap_high)) - offset) / divisor
-- (a null cap is no bound; log takes max(x, smallest normal double), log1p max(x, 0)); then the nearest
-- centroid (segmentation.models.centroids), and its segment (segmentation.model_segments).

CREATE OR REPLACE FUNCTION segmentation.scale_feature(raw_value double precision, step jsonb)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT (CASE step ->> 'transform'
                WHEN 'log' THEN ln(greatest(clipped, '2.2250738585072014e-308'::double precision))
                WHEN 'log1p' THEN ln(1 + greatest(clipped, 0))
                ELSE clipped
            END - (step ->> 'offset')::double precision) / (step ->> 'divisor')::double precision
    FROM (SELECT least(greatest(coalesce(raw_value, (step ->> 'impute_value')::double precision),
                                coalesce((step ->> 'cap_low')::double precision, '-Infinity')),
                       coalesce((step ->> 'cap_high')::double precision, 'Infinity')) AS clipped) AS capped
$$;
COMMENT ON FUNCTION segmentation.scale_feature(double precision, jsonb) IS
    'One feature value into a model''s scaled space with one preprocessing step of segmentation.models.preprocessing: impute, cap, log/log1p, (x - offset) / divisor.';

CREATE OR REPLACE FUNCTION segmentation.assign_segment(feature_values jsonb)
RETURNS TABLE (segment_id integer, segment_name text, tier text, recommended_action text, cluster_index integer,
               distance_to_centroid double precision, model_version integer)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    active_version integer;
    missing text[];
BEGIN
    SELECT m.model_version,
           array(SELECT step ->> 'name' FROM jsonb_array_elements(m.preprocessing) AS step
                 WHERE NOT feature_values ? (step ->> 'name'))
      INTO active_version, missing
      FROM segmentation.models AS m WHERE m.status = 'active';
    IF active_version IS NULL THEN
        RAISE EXCEPTION 'no active segmentation model: run the pipeline once (segments run) before scoring';
    END IF;
    -- A misspelt key would otherwise be imputed silently; an explicit null asks for imputation.
    IF cardinality(missing) > 0 THEN
        RAISE EXCEPTION 'feature_values lacks the model feature(s) %; give each (null to impute)',
            array_to_string(missing, ', ');
    END IF;
    RETURN QUERY
    WITH model AS (
        SELECT m.model_version, m.preprocessing, m.centroids FROM segmentation.models AS m
        WHERE m.model_version = active_version
    ), point AS (
        SELECT step.position - 1 AS position,
               segmentation.scale_feature((feature_values ->> (step.spec ->> 'name'))::double precision,
                                          step.spec) AS value
        FROM model, jsonb_array_elements(model.preprocessing) WITH ORDINALITY AS step (spec, position)
    ), squared AS (
        -- |x|^2 - 2 x.c + |c|^2: the expansion tasks/model.assign_nearest (and scikit-learn) use, so
        -- near-ties resolve the same way.
        SELECT centre.position - 1 AS cluster_index,
               (SELECT sum(p.value * p.value) FROM point AS p)
               - 2 * sum(p.value * (centre.coordinates ->> p.position::integer)::double precision)
               + sum(((centre.coordinates ->> p.position::integer)::double precision) ^ 2) AS squared_distance
        FROM model, jsonb_array_elements(model.centroids) WITH ORDINALITY AS centre (coordinates, position)
        CROSS JOIN point AS p
        GROUP BY centre.position
    )
    SELECT s.segment_id, s.segment_name, s.tier, s.recommended_action, d.cluster_index::integer,
           sqrt(greatest(d.squared_distance, 0)), s.model_version
    FROM squared AS d
    JOIN segmentation.model_segments AS s ON s.model_version = active_version AND s.cluster_index = d.cluster_index
    ORDER BY d.squared_distance, d.cluster_index
    LIMIT 1;
END
$$;
COMMENT ON FUNCTION segmentation.assign_segment(jsonb) IS
    'Segment and tier the active model gives a customer with these raw feature values (a JSON object keyed by feature name, e.g. {"recency_days": 12, "frequency": 20, "monetary": 900, "tenure_days": 400, "campaign_acceptances": 1}; null imputes). Same result as the pipeline''s Python assignment.';

CREATE OR REPLACE FUNCTION segmentation.assign_segment(customer_id bigint)
RETURNS TABLE (segment_id integer, segment_name text, tier text, recommended_action text, cluster_index integer,
               distance_to_centroid double precision, model_version integer)
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT a.*
    FROM segmentation.customer_segments AS f
    CROSS JOIN LATERAL segmentation.assign_segment(to_jsonb(f)) AS a
    WHERE f.customer_id = assign_segment.customer_id
$$;
COMMENT ON FUNCTION segmentation.assign_segment(bigint) IS
    'Segment and tier the active model gives a customer from the features published with its segment (segmentation.customer_segments, found by its primary key). No row for a customer that is not published.';
