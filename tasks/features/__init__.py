"""Stage 3, features: the recipe's RFM-style features of every customer, computed in PostgreSQL."""
