-- The run's RFM summary of every customer with a purchase day up to as_of, from the daily rollup.
-- Parameter: as_of. Definitions: segmentation.customer_rfm's comments (lifetimes and PyMC-Marketing).
INSERT INTO segmentation_work.customer_rfm
    (customer_id, first_purchase_on, last_purchase_on, purchase_days, recency_days, tenure_days,
     monetary_total, monetary_mean, repeat_monetary_mean)
SELECT r.customer_id, r.first_day, r.last_day, r.days, %(as_of)s::date - r.last_day, %(as_of)s::date - r.first_day,
       r.total, r.total / r.days,
       CASE WHEN r.days > 1 THEN (r.total - r.first) / (r.days - 1) ELSE 0 END
FROM (
    -- One pass per customer: the first day's sum is the first of its amounts in day order (a customer's days
    -- are unique; the rollup's primary key gives them in that order, so no sort per customer).
    SELECT d.customer_id, min(d.purchase_day) AS first_day, max(d.purchase_day) AS last_day,
           count(*)::integer AS days, sum(d.amount) AS total,
           (array_agg(d.amount ORDER BY d.purchase_day))[1] AS first
    FROM segmentation_work.order_days AS d
    WHERE d.purchase_day <= %(as_of)s
    GROUP BY d.customer_id
) AS r;
