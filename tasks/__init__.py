"""Pipeline stages as plain, typed functions. Prefect wrappers live in `flows/`."""
