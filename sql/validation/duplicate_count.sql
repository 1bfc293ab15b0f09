-- Customers whose record repeats an earlier customer's in every column but the id.
SELECT count(*) - count(DISTINCT (birth_year, education_raw, marital_status_raw, income, kids_home, teens_home,
       enrolled_on, recency_days, spend_wines, spend_fruits, spend_meat, spend_fish, spend_sweets, spend_gold,
       purchases_deals, purchases_web, purchases_catalog, purchases_store, web_visits_month, accepted_cmp1,
       accepted_cmp2, accepted_cmp3, accepted_cmp4, accepted_cmp5, response, complain))
FROM segmentation_work.customers_extract;
