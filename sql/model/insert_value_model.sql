-- Store a run's value models as data. Parameters: the columns of segmentation.value_models.
INSERT INTO segmentation.value_models
    (run_id, as_of, time_unit_days, horizon_days, fit_customers, bgnbd_r, bgnbd_alpha, bgnbd_a, bgnbd_b,
     bgnbd_log_likelihood, bgnbd_iterations, repeat_customers, gamma_gamma_p, gamma_gamma_q, gamma_gamma_gamma,
     gamma_gamma_log_likelihood, gamma_gamma_iterations, holdout)
VALUES (%(run_id)s, %(as_of)s, %(time_unit_days)s, %(horizon_days)s, %(fit_customers)s, %(bgnbd_r)s,
        %(bgnbd_alpha)s, %(bgnbd_a)s, %(bgnbd_b)s, %(bgnbd_log_likelihood)s, %(bgnbd_iterations)s,
        %(repeat_customers)s, %(gamma_gamma_p)s, %(gamma_gamma_q)s, %(gamma_gamma_gamma)s,
        %(gamma_gamma_log_likelihood)s, %(gamma_gamma_iterations)s, %(holdout)s);
