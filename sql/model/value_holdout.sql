-- The holdout check's data: each customer's history up to the cut-off (BG/NBD's terms, days) and the
-- repeat purchase days after it up to as_of, from the daily rollup, for the customers whose id falls in one
-- residue class (a reproducible sample). Parameters: cutoff, as_of, modulus.
SELECT (count(*) FILTER (WHERE d.purchase_day <= %(cutoff)s) - 1)::float8 AS frequency,
       (max(d.purchase_day) FILTER (WHERE d.purchase_day <= %(cutoff)s) - min(d.purchase_day))::float8
           AS recency,
       (%(cutoff)s::date - min(d.purchase_day))::float8 AS age,
       (count(*) FILTER (WHERE d.purchase_day > %(cutoff)s AND d.purchase_day <= %(as_of)s))::float8 AS actual
FROM segmentation_work.order_days AS d
WHERE d.customer_id %% %(modulus)s = 0
GROUP BY d.customer_id
HAVING min(d.purchase_day) <= %(cutoff)s
