-- The schema of the benchmark's own tables (floors, copies to compare). No parameters.
CREATE SCHEMA IF NOT EXISTS benchmark
