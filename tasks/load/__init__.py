"""Source data in: a customers CSV export loaded with COPY, or synthetic customers for scale tests."""
