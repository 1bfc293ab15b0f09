-- One partition of the staging table, for one range of customer ids, created and filled in one
-- transaction: on a server with wal_level minimal (the embedded one) its rows then skip the WAL. The CHECK
-- constraint states the range, so that attaching the partition (to the staging table, then to
-- customer_segments) needs no scan to prove it; its primary key is added by the audit, after the rows are
-- in: one index build instead of an insertion per customer, and a repeated customer fails it. {partition}
-- is a name tasks/publish.py makes, {range_check} a condition on customer_id with the range's integer
-- bounds (or TRUE). Without autovacuum, here and once published: the run analyses the rows it writes, the
-- next run replaces them, and an autovacuum busy on them held up each DETACH and ATTACH for a second (until
-- PostgreSQL cancels it) while using the cores the run needs.
DROP TABLE IF EXISTS {partition};
CREATE TABLE {partition} (
    LIKE segmentation.customer_segments INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE,
    CONSTRAINT customer_id_range CHECK ({range_check})
) WITH (autovacuum_enabled = false);
