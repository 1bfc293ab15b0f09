-- The currency of the latest orders file `segments load-orders` loaded (none: NULL). No parameters.
SELECT currency FROM source.order_loads ORDER BY load_id DESC LIMIT 1;
