"""Stage 4, train or reassign: K-Means as plain data, stable named segments, the model registry, scoring SQL."""
