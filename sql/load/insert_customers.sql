-- One chunk of generated customers (temporary table generated_chunk) into source.customers, in the
-- canonical contract. Parameter: load_id.
INSERT INTO source.customers (
    customer_id, birth_year, education, education_raw, marital_status, marital_status_raw, income,
    kids_home, teens_home, enrolled_on, recency_days,
    spend_wines, spend_fruits, spend_meat, spend_fish, spend_sweets, spend_gold,
    purchases_deals, purchases_web, purchases_catalog, purchases_store, web_visits_month,
    accepted_cmp1, accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response, complain, load_id)
SELECT g.customer_id, g.birth_year, e.canonical, e.raw, m.canonical, m.raw,
       nullif(g.income, 'NaN')::numeric(18, 2),
       g.kids_home, g.teens_home, date '1970-01-01' + g.enrolled_day, g.recency_days,
       g.spend_wines::numeric(18, 2), g.spend_fruits::numeric(18, 2), g.spend_meat::numeric(18, 2),
       g.spend_fish::numeric(18, 2), g.spend_sweets::numeric(18, 2), g.spend_gold::numeric(18, 2),
       g.purchases_deals, g.purchases_web, g.purchases_catalog, g.purchases_store, g.web_visits_month,
       g.accepted_cmp1, g.accepted_cmp2, g.accepted_cmp3, g.accepted_cmp4, g.accepted_cmp5, g.response, g.complain,
       %(load_id)s
FROM generated_chunk AS g
JOIN generated_labels AS e ON e.field = 'education' AND e.code = g.education_code
JOIN generated_labels AS m ON m.field = 'marital_status' AND m.code = g.marital_status_code
ORDER BY g.customer_id;
