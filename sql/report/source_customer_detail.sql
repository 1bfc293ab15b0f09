-- A fragment of segment_mix.sql: the category and channel columns of source.customers, one row per customer
-- whatever it holds (the first by id order of a repeated one).
(SELECT DISTINCT ON (s.customer_id) s.customer_id, s.spend_wines, s.spend_fruits, s.spend_meat, s.spend_fish,
        s.spend_sweets, s.spend_gold, s.purchases_web, s.purchases_catalog, s.purchases_store, s.purchases_deals
 FROM source.customers AS s
 ORDER BY s.customer_id)
