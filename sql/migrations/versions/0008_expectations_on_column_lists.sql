-- An expectation may check a list of columns that share a rule (tasks/validation/expectations.py): its result
-- names them all.
COMMENT ON COLUMN segmentation.validation_results.column_name IS
    'Column checked, in the canonical contract; for an expectation on a list of columns, the list, comma-separated (e.g. ''income, spend_wines'').';
