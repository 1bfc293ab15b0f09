-- For the rest of a full rebuild's transaction: no index scans. The rebuild reads every order, and an index
-- by customer would read the table's pages at random, one fetch per order, instead of once each. No parameters.
SET LOCAL enable_indexscan = off
