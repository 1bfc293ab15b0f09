"""A run as a whole: the ordered stages, the run record and the one-run-per-database lock."""
