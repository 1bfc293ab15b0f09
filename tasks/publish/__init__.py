"""Stage 5, publish: write, audit and publish the run's segments in one transaction."""
