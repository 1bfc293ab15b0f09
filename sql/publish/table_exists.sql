-- The table's oid as regclass when it exists, else NULL (whether a stage or an audit left its work table).
-- Parameter: table (its name, as regclass reads it).
SELECT to_regclass(%(table)s)
