-- Empty source.customers for a file's load, in the load's transaction: a bad file leaves the previous load
-- in place. No parameters.
DELETE FROM source.customers
