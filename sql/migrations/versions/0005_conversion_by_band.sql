-- The insight report's conversion analysis, kept per run so a report can be regenerated after later
-- runs have republished the customers.

CREATE OR REPLACE FUNCTION segmentation.wilson_interval(
    successes bigint, trials bigint, z double precision DEFAULT 1.959963984540054,
    OUT low double precision, OUT high double precision)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN trials > 0 THEN centre - half END, CASE WHEN trials > 0 THEN centre + half END
    FROM (SELECT (p + z * z / (2 * n)) / (1 + z * z / n) AS centre,
                 z / (1 + z * z / n) * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) AS half
          FROM (SELECT successes::double precision / nullif(trials, 0) AS p,
                       nullif(trials, 0)::double precision AS n) AS share) AS wilson
$$;
COMMENT ON FUNCTION segmentation.wilson_interval(bigint, bigint, double precision) IS
    'Wilson score interval (low, high) of a proportion successes/trials; z = 1.96 gives 95 percent. NULLs for 0 trials.';

CREATE TABLE IF NOT EXISTS segmentation.conversion_by_band (
    run_id               bigint           NOT NULL REFERENCES segmentation.pipeline_runs (run_id),
    dimension            text             NOT NULL,
    band_order           integer          NOT NULL,
    band_label           text             NOT NULL,
    lower                double precision,
    upper                double precision,
    customers            integer          NOT NULL,
    responders           integer          NOT NULL,
    response_rate        double precision,
    ci_low               double precision,
    ci_high              double precision,
    mean_conversion      double precision,
    zero_visit_customers integer          NOT NULL,
    purchases_per_visit  double precision,
    PRIMARY KEY (run_id, dimension, band_order)
);
COMMENT ON TABLE segmentation.conversion_by_band IS 'Per run, dimension (income, spending, age, children, segment) and band: customers, campaign response rate with its 95 percent Wilson interval, conversion per web visit. Bands come from config/bands.yaml.';
COMMENT ON COLUMN segmentation.conversion_by_band.run_id IS 'Run whose published customers were analysed.';
COMMENT ON COLUMN segmentation.conversion_by_band.dimension IS 'What the customers are banded by: income, spending, age, children or segment.';
COMMENT ON COLUMN segmentation.conversion_by_band.band_order IS 'Position of the band within the dimension (0 = below the first configured bound; unknown values last).';
COMMENT ON COLUMN segmentation.conversion_by_band.band_label IS 'Band as shown in the report, e.g. IDR 10M-20M, 30-39, 3+ or a segment name.';
COMMENT ON COLUMN segmentation.conversion_by_band.lower IS 'Inclusive lower bound of the band; NULL when open below, for unknown values and for segments.';
COMMENT ON COLUMN segmentation.conversion_by_band.upper IS 'Exclusive upper bound of the band; NULL when open above, for unknown values and for segments.';
COMMENT ON COLUMN segmentation.conversion_by_band.customers IS 'Customers in the band.';
COMMENT ON COLUMN segmentation.conversion_by_band.responders IS 'Customers in the band who accepted the last campaign (response = 1).';
COMMENT ON COLUMN segmentation.conversion_by_band.response_rate IS 'responders / customers; NULL for an empty band.';
COMMENT ON COLUMN segmentation.conversion_by_band.ci_low IS 'Lower end of the 95 percent Wilson interval of response_rate.';
COMMENT ON COLUMN segmentation.conversion_by_band.ci_high IS 'Upper end of the 95 percent Wilson interval of response_rate.';
COMMENT ON COLUMN segmentation.conversion_by_band.mean_conversion IS 'Mean over customers with web visits of response / web_visits_month; NULL when no customer of the band has visits.';
COMMENT ON COLUMN segmentation.conversion_by_band.zero_visit_customers IS 'Customers of the band without web visits last month, left out of mean_conversion and purchases_per_visit.';
COMMENT ON COLUMN segmentation.conversion_by_band.purchases_per_visit IS 'Total purchases / total monthly web visits of the band''s customers with visits (a ratio of sums, so a few low-visit customers do not dominate).';
