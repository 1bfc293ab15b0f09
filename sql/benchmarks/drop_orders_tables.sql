-- Drop the orders benchmark's own tables (its floor, the RFM kept after an incremental night). No parameters.
DROP TABLE IF EXISTS benchmark.orders_floor, benchmark.rfm_after_night
