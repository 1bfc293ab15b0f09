"""Stage 2, validate: Great Expectations suites in PostgreSQL, quarantine, repeated records, Data Docs."""
