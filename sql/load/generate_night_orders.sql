-- A night's synthetic orders for the benchmark, ingested now: new_orders orders on the night's day, then
-- corrections late corrections (negative amounts) dated on a random day of the history, random customers.
-- Parameters: new_orders, corrections, customers, days, history_start, night_day, seed.
INSERT INTO source.orders (customer_id, ordered_at, amount, ingested_at)
SELECT 1 + mod(hashint8extended(g.i, %(seed)s + 10) & 9223372036854775807, %(customers)s),
       CASE WHEN g.i <= %(new_orders)s THEN %(night_day)s::timestamptz
            ELSE %(history_start)s::timestamptz
                 + make_interval(days => mod(hashint8extended(g.i, %(seed)s + 11) & 9223372036854775807,
                                             %(days)s)::integer)
       END + make_interval(secs => mod(hashint8extended(g.i, %(seed)s + 12) & 9223372036854775807, 86400)),
       CASE WHEN g.i <= %(new_orders)s THEN 1 ELSE -1 END
           * round(2 + mod(hashint8extended(g.i, %(seed)s + 13) & 9223372036854775807, 30000) / 100.0, 2),
       now()
FROM generate_series(1, %(new_orders)s::bigint + %(corrections)s) AS g(i)
