"""Prefect flows and the `segments` CLI: they wire the stages in `tasks/` into a run."""
