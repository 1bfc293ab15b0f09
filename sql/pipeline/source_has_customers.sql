-- Whether source.customers holds any customer (an empty embedded database gets the bundled sample).
-- No parameters.
SELECT EXISTS (SELECT 1 FROM source.customers);
