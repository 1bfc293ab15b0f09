-- Row-level checks on one range of the run's extract: customers who fail an enabled check go to quarantine
-- with every reason that applies and their raw record. Parameters: run_id, as_of, earliest_enrolment,
-- min_age, max_age; first_row, end_row (the range, tasks/db/sql.py page_ranges); check_<reason> (boolean).

-- Several connections share the work, a range of row addresses each. The checks enabled are those the
-- run's recipe quarantines for and, of those, only the ones whose expectations failed in GX's row-level
-- suite (a check whose expectations all held has no customer to find). The predicates mirror
-- expectations/source_rows.json, nulls included (each expectation's meta.reason names its check);
-- tests/test_validation.py breaks each expectation and checks both agree. Each predicate is evaluated once
-- per customer (the booleans of `broken`); the reasons array is built only for the customers that break an
-- enabled check. Repeated records are found at the same time on another connection and quarantined
-- afterwards (sql/validation/quarantine_duplicates.sql).
WITH broken AS (
    SELECT e.customer_id, e AS record,
           %(check_missing_income)s AND e.income IS NULL AS missing_income,
           -- Integer bounds: extract() returns numeric, which would compare every birth year as numeric.
           %(check_implausible_birth_year)s AND (e.birth_year IS NULL
               OR e.birth_year < extract(year FROM %(as_of)s::date)::integer - %(max_age)s
               OR e.birth_year > extract(year FROM %(as_of)s::date)::integer - %(min_age)s) AS implausible_birth_year,
           %(check_unknown_education)s AND (e.education IS NULL
               OR e.education NOT IN ('basic', 'diploma', 'bachelor', 'master', 'doctorate')) AS unknown_education,
           %(check_unknown_marital_status)s AND (e.marital_status IS NULL
               OR e.marital_status NOT IN ('married', 'together', 'single', 'divorced', 'widowed', 'other'))
               AS unknown_marital_status,
           %(check_negative_amount)s AND (e.income < 0 OR least(e.spend_wines, e.spend_fruits, e.spend_meat,
               e.spend_fish, e.spend_sweets, e.spend_gold) < 0 OR least(e.kids_home, e.teens_home,
               e.recency_days, e.purchases_deals, e.purchases_web, e.purchases_catalog, e.purchases_store,
               e.web_visits_month) < 0) AS negative_amount,
           %(check_enrolment_out_of_range)s AND (e.enrolled_on IS NULL OR e.enrolled_on > %(as_of)s::date
               OR e.enrolled_on < %(earliest_enrolment)s::date) AS enrolment_out_of_range,
           %(check_flag_not_0_or_1)s AND (greatest(e.accepted_cmp1, e.accepted_cmp2, e.accepted_cmp3, e.accepted_cmp4,
                                        e.accepted_cmp5, e.response, e.complain) > 1
               OR least(e.accepted_cmp1, e.accepted_cmp2, e.accepted_cmp3, e.accepted_cmp4, e.accepted_cmp5,
                        e.response, e.complain) < 0) AS flag_not_0_or_1
    FROM segmentation_work.customers_extract AS e
    WHERE e.ctid >= %(first_row)s::tid AND e.ctid < %(end_row)s::tid
),
reasons AS (
    SELECT customer_id, record, array_remove(ARRAY[
        CASE WHEN missing_income THEN 'missing_income' END,
        CASE WHEN implausible_birth_year THEN 'implausible_birth_year' END,
        CASE WHEN unknown_education THEN 'unknown_education' END,
        CASE WHEN unknown_marital_status THEN 'unknown_marital_status' END,
        CASE WHEN negative_amount THEN 'negative_amount' END,
        CASE WHEN enrolment_out_of_range THEN 'enrolment_out_of_range' END,
        CASE WHEN flag_not_0_or_1 THEN 'flag_not_0_or_1' END
    ], NULL) AS reasons
    FROM broken
    -- IS TRUE: a check on a NULL value (e.g. a NULL flag) is not a failure of that check.
    WHERE (missing_income OR implausible_birth_year OR unknown_education OR unknown_marital_status
           OR negative_amount OR enrolment_out_of_range OR flag_not_0_or_1) IS TRUE
)
INSERT INTO segmentation_restricted.quarantined_customers (run_id, customer_id, reasons, record)
SELECT %(run_id)s, customer_id, reasons, row_to_json(record)
FROM reasons
ON CONFLICT (run_id, customer_id) DO NOTHING;
