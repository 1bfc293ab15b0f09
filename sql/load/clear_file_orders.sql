-- Remove the orders earlier files loaded, in the new load's transaction (a bad file leaves them in place);
-- rows written by other jobs (load_id NULL) stay. No parameters.
DELETE FROM source.orders WHERE load_id IS NOT NULL
