-- Temporary tables of `segments generate` (dropped at commit): the sample's label pairs by code, and
-- one chunk of generated customers as numbers (binary COPY), turned into rows by insert_customers.sql.
CREATE TEMPORARY TABLE generated_labels (
    field     text     NOT NULL,
    code      smallint NOT NULL,
    canonical text     NOT NULL,
    raw       text     NOT NULL,
    PRIMARY KEY (field, code)
) ON COMMIT DROP;

CREATE TEMPORARY TABLE generated_chunk (
    customer_id         bigint,
    birth_year          integer,
    education_code      smallint,
    marital_status_code smallint,
    income              double precision,  -- NaN = unknown
    kids_home           integer,
    teens_home          integer,
    enrolled_day        integer,           -- days since 1970-01-01
    recency_days        integer,
    spend_wines         double precision,
    spend_fruits        double precision,
    spend_meat          double precision,
    spend_fish          double precision,
    spend_sweets        double precision,
    spend_gold          double precision,
    purchases_deals     integer,
    purchases_web       integer,
    purchases_catalog   integer,
    purchases_store     integer,
    web_visits_month    integer,
    accepted_cmp1       integer,
    accepted_cmp2       integer,
    accepted_cmp3       integer,
    accepted_cmp4       integer,
    accepted_cmp5       integer,
    response            integer,
    complain            integer
) ON COMMIT DROP;
