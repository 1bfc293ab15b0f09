-- Synthetic order history for the benchmark, repeatable for a seed: orders first_order..last_order of
-- orders in all, in date order over days days from history_start, of customers 1..customers drawn at random.
-- Parameters: first_order, last_order, orders, customers, days, history_start, seed.
INSERT INTO source.orders (customer_id, ordered_at, amount, ingested_at)
SELECT o.customer_id, o.ordered_at, o.amount,
       o.ordered_at + make_interval(secs => mod(hashint8extended(o.i, %(seed)s + 3) & 9223372036854775807, 43200))
FROM (
    SELECT g.i,
           1 + mod(hashint8extended(g.i, %(seed)s) & 9223372036854775807, %(customers)s) AS customer_id,
           %(history_start)s::timestamptz
               + make_interval(days => ((g.i - 1) * %(days)s / %(orders)s)::integer,
                               secs => mod(hashint8extended(g.i, %(seed)s + 1) & 9223372036854775807, 86400))
               AS ordered_at,
           round(2 + mod(hashint8extended(g.i, %(seed)s + 2) & 9223372036854775807, 30000) / 100.0, 2) AS amount
    FROM generate_series(%(first_order)s::bigint, %(last_order)s::bigint) AS g(i)
) AS o
