-- Record where the rollup now stands; the other tables' states are dropped (one orders table is rolled up).
-- Parameter: source_table.
DELETE FROM segmentation_work.order_rollup_state WHERE source_table <> %(source_table)s;
