-- The Wilson score interval (low, high) of a response rate at 95 percent confidence, by the function the
-- conversion tables use. Parameters: responders, customers.
SELECT *
FROM segmentation.wilson_interval(%(responders)s, %(customers)s)
