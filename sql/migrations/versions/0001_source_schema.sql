-- The canonical source contract: one row per customer, snake_case names, one canonical vocabulary.
-- `segments load` fills it from a CSV export; a mapping file can point the pipeline at a platform
-- table instead. Loads replace the table's content (each export is a full snapshot).

CREATE SCHEMA IF NOT EXISTS source;
COMMENT ON SCHEMA source IS 'Customer source data the segmentation pipeline reads. Not for campaign tools.';

CREATE TABLE IF NOT EXISTS source.loads (
    load_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name      text        NOT NULL,
    file_sha256    text        NOT NULL,
    delimiter      text        NOT NULL,
    date_format    text        NOT NULL,
    label_language text        NOT NULL,
    currency       text        NOT NULL,
    snapshot_date  date        NOT NULL,
    row_count      integer     NOT NULL,
    loaded_at      timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE source.loads IS 'One row per customers file loaded by `segments load`: where it came from and how it was read.';
COMMENT ON COLUMN source.loads.load_id IS 'Load identifier, referenced by source.customers.load_id.';
COMMENT ON COLUMN source.loads.file_name IS 'Name of the loaded file.';
COMMENT ON COLUMN source.loads.file_sha256 IS 'SHA-256 of the file bytes.';
COMMENT ON COLUMN source.loads.delimiter IS 'Field delimiter detected in the file.';
COMMENT ON COLUMN source.loads.date_format IS 'Date format of the enrolment dates (dd-mm-yyyy or yyyy-mm-dd).';
COMMENT ON COLUMN source.loads.label_language IS 'Language of the category labels (id = Indonesian, en = English).';
COMMENT ON COLUMN source.loads.currency IS 'Currency of income and amounts as given in the file (e.g. IDR).';
COMMENT ON COLUMN source.loads.snapshot_date IS 'Date the export describes: recency is counted back from it.';
COMMENT ON COLUMN source.loads.row_count IS 'Customers loaded.';
COMMENT ON COLUMN source.loads.loaded_at IS 'When the load committed.';

CREATE TABLE IF NOT EXISTS source.customers (
    customer_id         bigint,
    birth_year          integer,
    education           text,
    education_raw       text,
    marital_status      text,
    marital_status_raw  text,
    income              numeric(18, 2),
    kids_home           integer,
    teens_home          integer,
    enrolled_on         date,
    recency_days        integer,
    spend_wines         numeric(18, 2),
    spend_fruits        numeric(18, 2),
    spend_meat          numeric(18, 2),
    spend_fish          numeric(18, 2),
    spend_sweets        numeric(18, 2),
    spend_gold          numeric(18, 2),
    purchases_deals     integer,
    purchases_web       integer,
    purchases_catalog   integer,
    purchases_store     integer,
    web_visits_month    integer,
    accepted_cmp1       smallint,
    accepted_cmp2       smallint,
    accepted_cmp3       smallint,
    accepted_cmp4       smallint,
    accepted_cmp5       smallint,
    response            smallint,
    complain            smallint,
    load_id             bigint REFERENCES source.loads (load_id)
);
-- No primary key on purpose: uniqueness of customer_id is part of the validated data contract, so a
-- platform table that breaks it is reported by validation rather than refused at insert time.
CREATE INDEX IF NOT EXISTS customers_customer_id_idx ON source.customers (customer_id);

COMMENT ON TABLE source.customers IS 'Canonical customer records (the source contract). Read by the nightly segmentation flow.';
COMMENT ON COLUMN source.customers.customer_id IS 'Customer identifier (ID).';
COMMENT ON COLUMN source.customers.birth_year IS 'Year of birth (Year_Birth).';
COMMENT ON COLUMN source.customers.education IS 'Canonical education level: basic, diploma, bachelor, master, doctorate.';
COMMENT ON COLUMN source.customers.education_raw IS 'Education label as written in the source.';
COMMENT ON COLUMN source.customers.marital_status IS 'Canonical marital status: married, together, single, divorced, widowed, other.';
COMMENT ON COLUMN source.customers.marital_status_raw IS 'Marital status label as written in the source.';
COMMENT ON COLUMN source.customers.income IS 'Yearly household income, in the load currency; NULL when unknown.';
COMMENT ON COLUMN source.customers.kids_home IS 'Small children at home (Kidhome).';
COMMENT ON COLUMN source.customers.teens_home IS 'Teenagers at home (Teenhome).';
COMMENT ON COLUMN source.customers.enrolled_on IS 'Date the customer enrolled (Dt_Customer).';
COMMENT ON COLUMN source.customers.recency_days IS 'Days since the last purchase, as of the load snapshot date (Recency).';
COMMENT ON COLUMN source.customers.spend_wines IS 'Spend on wines in the last two years (MntWines, MntCoke).';
COMMENT ON COLUMN source.customers.spend_fruits IS 'Spend on fruits in the last two years (MntFruits).';
COMMENT ON COLUMN source.customers.spend_meat IS 'Spend on meat in the last two years (MntMeatProducts).';
COMMENT ON COLUMN source.customers.spend_fish IS 'Spend on fish in the last two years (MntFishProducts).';
COMMENT ON COLUMN source.customers.spend_sweets IS 'Spend on sweets in the last two years (MntSweetProducts).';
COMMENT ON COLUMN source.customers.spend_gold IS 'Spend on gold products in the last two years (MntGoldProds).';
COMMENT ON COLUMN source.customers.purchases_deals IS 'Purchases made with a discount (NumDealsPurchases).';
COMMENT ON COLUMN source.customers.purchases_web IS 'Purchases through the web site (NumWebPurchases).';
COMMENT ON COLUMN source.customers.purchases_catalog IS 'Purchases from the catalogue (NumCatalogPurchases).';
COMMENT ON COLUMN source.customers.purchases_store IS 'Purchases in store (NumStorePurchases).';
COMMENT ON COLUMN source.customers.web_visits_month IS 'Web visits in the last month (NumWebVisitsMonth).';
COMMENT ON COLUMN source.customers.accepted_cmp1 IS '1 if the customer accepted campaign 1''s offer.';
COMMENT ON COLUMN source.customers.accepted_cmp2 IS '1 if the customer accepted campaign 2''s offer.';
COMMENT ON COLUMN source.customers.accepted_cmp3 IS '1 if the customer accepted campaign 3''s offer.';
COMMENT ON COLUMN source.customers.accepted_cmp4 IS '1 if the customer accepted campaign 4''s offer.';
COMMENT ON COLUMN source.customers.accepted_cmp5 IS '1 if the customer accepted campaign 5''s offer.';
COMMENT ON COLUMN source.customers.response IS '1 if the customer accepted the last campaign''s offer.';
COMMENT ON COLUMN source.customers.complain IS '1 if the customer complained in the last two years.';
COMMENT ON COLUMN source.customers.load_id IS 'The load that wrote this row (source.loads).';

-- One vocabulary for category labels, whatever language the source speaks. The loader and the
-- extract of a mapped platform table both translate through it; canonical values map to themselves.
CREATE TABLE IF NOT EXISTS source.label_vocabulary (
    field     text NOT NULL CHECK (field IN ('education', 'marital_status')),
    label     text NOT NULL,
    canonical text NOT NULL,
    language  text NOT NULL,
    PRIMARY KEY (field, label)
);
COMMENT ON TABLE source.label_vocabulary IS 'Category labels (Indonesian, English, canonical; compared in lower case) and the canonical value each stands for.';
COMMENT ON COLUMN source.label_vocabulary.field IS 'education or marital_status.';
COMMENT ON COLUMN source.label_vocabulary.label IS 'Label as found in sources, lower case.';
COMMENT ON COLUMN source.label_vocabulary.canonical IS 'Canonical value.';
COMMENT ON COLUMN source.label_vocabulary.language IS 'id (Indonesian), en (English) or canonical.';

INSERT INTO source.label_vocabulary (field, label, canonical, language) VALUES
    ('education', 'sma', 'basic', 'id'), ('education', 'd3', 'diploma', 'id'),
    ('education', 's1', 'bachelor', 'id'), ('education', 's2', 'master', 'id'),
    ('education', 's3', 'doctorate', 'id'),
    ('education', 'basic', 'basic', 'en'), ('education', '2n cycle', 'diploma', 'en'),
    ('education', 'graduation', 'bachelor', 'en'), ('education', 'master', 'master', 'en'),
    ('education', 'phd', 'doctorate', 'en'),
    ('education', 'diploma', 'diploma', 'canonical'), ('education', 'bachelor', 'bachelor', 'canonical'),
    ('education', 'doctorate', 'doctorate', 'canonical'),
    ('marital_status', 'menikah', 'married', 'id'), ('marital_status', 'bertunangan', 'together', 'id'),
    ('marital_status', 'lajang', 'single', 'id'), ('marital_status', 'cerai', 'divorced', 'id'),
    ('marital_status', 'janda', 'widowed', 'id'), ('marital_status', 'duda', 'widowed', 'id'),
    ('marital_status', 'married', 'married', 'en'), ('marital_status', 'together', 'together', 'en'),
    ('marital_status', 'single', 'single', 'en'), ('marital_status', 'divorced', 'divorced', 'en'),
    ('marital_status', 'widow', 'widowed', 'en'), ('marital_status', 'alone', 'single', 'en'),
    ('marital_status', 'absurd', 'other', 'en'), ('marital_status', 'yolo', 'other', 'en'),
    ('marital_status', 'widowed', 'widowed', 'canonical'), ('marital_status', 'other', 'other', 'canonical')
ON CONFLICT (field, label) DO NOTHING;
