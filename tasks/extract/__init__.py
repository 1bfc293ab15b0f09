"""Stage 1, extract: snapshot the customers to segment from the (mapped) source table."""
