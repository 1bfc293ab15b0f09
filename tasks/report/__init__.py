"""Stage 6, report: the run's summary, insights and the self-contained HTML report."""
