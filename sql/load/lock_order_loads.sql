-- Serialise loads of orders files: a second `segments load-orders` waits here until the first commits, so
-- each replaces the other's rows instead of both adding theirs. Readers are not blocked. No parameters.
LOCK TABLE source.order_loads IN SHARE ROW EXCLUSIVE MODE
