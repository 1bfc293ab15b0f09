-- The value models a run fitted (orders runs), for the report. Parameter: run_id.
SELECT * FROM segmentation.value_models WHERE run_id = %(run_id)s;
