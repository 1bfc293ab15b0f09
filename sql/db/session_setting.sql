-- Set one setting for the rest of the session (not only the transaction: is_local is false).
-- Parameters: name, value.
SELECT set_config(%(name)s, %(value)s, false)
