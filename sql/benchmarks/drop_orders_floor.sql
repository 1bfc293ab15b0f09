-- Drop the orders benchmark's floor table after it was timed. No parameters.
DROP TABLE IF EXISTS benchmark.orders_floor
