-- Keep the RFM summary an incremental night computed, to compare it with a full rebuild's. No parameters.
CREATE TABLE benchmark.rfm_after_night AS SELECT * FROM segmentation_work.customer_rfm
