-- Rows of the RFM summary after the incremental night that a full rebuild does not give, and the other way
-- round, and the rows compared. No parameters.
SELECT (SELECT count(*) FROM (SELECT * FROM benchmark.rfm_after_night
                              EXCEPT ALL SELECT * FROM segmentation_work.customer_rfm) AS d)
     + (SELECT count(*) FROM (SELECT * FROM segmentation_work.customer_rfm
                              EXCEPT ALL SELECT * FROM benchmark.rfm_after_night) AS d) AS differing,
       (SELECT count(*) FROM segmentation_work.customer_rfm) AS compared
