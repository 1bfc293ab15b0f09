-- Synthetic orders of customers who differ, for the benchmark of the pipeline on orders, repeatable for a
-- seed. The value models need customers whose purchase rates, lifetimes and spend differ: on orders drawn
-- evenly over the customers (sql/load/generate_orders.sql) no customer drops out, and BG/NBD does not
-- converge. Customer c makes its first order at time (c - 1 + u) / customers of the history (ids in the
-- order customers join), then buys again at a rate per day drawn from an exponential distribution of mean
-- rate_mean until it drops out after a lifetime drawn from an exponential distribution of mean
-- lifetime_days (the Pareto/NBD story, which BG/NBD approximates): its repeat orders, their number the
-- rate times that time rounded at random, fall evenly over it. Each order is worth the customer's spend
-- level (10 plus an exponential of mean 40) times a factor between 0.5 and 1.5. Inserted in date order (as
-- orders arrive), each ingested within half a day of being placed. u(x, k) below stands for a uniform
-- number in (0, 1), the hash of x with seed + k.
-- Parameters: customers, days, history_start, rate_mean, lifetime_days, seed.
INSERT INTO source.orders (customer_id, ordered_at, amount, ingested_at)
SELECT o.customer_id, o.ordered_at, o.amount, o.ordered_at + make_interval(secs => 43200 * o.delay)
FROM (
    SELECT c.customer_id,
           %(history_start)s::timestamptz
               + make_interval(secs => 86400 * (c.joined + CASE WHEN k.k = 0 THEN 0 ELSE c.active * u.order_time END))
               AS ordered_at,
           round((c.spend * (0.5 + u.amount))::numeric, 2) AS amount,
           u.delay
    FROM (
        SELECT p.customer_id, p.joined, p.active, p.spend, floor(p.rate * p.active + p.rounding)::integer AS repeats
        FROM (
            SELECT q.customer_id, q.joined, least(q.lifetime, %(days)s - q.joined) AS active, q.rate, q.spend,
                   q.rounding
            FROM (
                SELECT g.c AS customer_id,
                       (g.c - 1 + ((hashint8extended(g.c, %(seed)s + 1) & 9007199254740991)::float8 + 0.5)
                                  / 9007199254740992) * %(days)s / %(customers)s AS joined,
                       -ln(((hashint8extended(g.c, %(seed)s + 2) & 9007199254740991)::float8 + 0.5)
                           / 9007199254740992) * %(rate_mean)s AS rate,
                       -ln(((hashint8extended(g.c, %(seed)s + 3) & 9007199254740991)::float8 + 0.5)
                           / 9007199254740992) * %(lifetime_days)s AS lifetime,
                       10 - 40 * ln(((hashint8extended(g.c, %(seed)s + 4) & 9007199254740991)::float8 + 0.5)
                                    / 9007199254740992) AS spend,
                       ((hashint8extended(g.c, %(seed)s + 5) & 9007199254740991)::float8 + 0.5)
                           / 9007199254740992 AS rounding
                FROM generate_series(1, %(customers)s::bigint) AS g(c)
            ) AS q
        ) AS p
    ) AS c
    CROSS JOIN LATERAL generate_series(0, c.repeats) AS k(k)
    CROSS JOIN LATERAL (
        SELECT ((hashint8extended(c.customer_id * 1048576 + k.k, %(seed)s + 6) & 9007199254740991)::float8 + 0.5)
                   / 9007199254740992 AS order_time,
               ((hashint8extended(c.customer_id * 1048576 + k.k, %(seed)s + 7) & 9007199254740991)::float8 + 0.5)
                   / 9007199254740992 AS amount,
               ((hashint8extended(c.customer_id * 1048576 + k.k, %(seed)s + 8) & 9007199254740991)::float8 + 0.5)
                   / 9007199254740992 AS delay
    ) AS u
) AS o
ORDER BY o.ordered_at
