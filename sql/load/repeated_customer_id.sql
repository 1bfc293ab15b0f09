-- One customer id that source.customers holds more than once (none if every id is unique): the loader then
-- names the file's lines that repeat it. No parameters.
SELECT customer_id
FROM source.customers
GROUP BY customer_id
HAVING count(*) > 1
LIMIT 1
