-- A fragment of band_totals.sql: the band of one dimension a customer c is in, as its band_order (the
-- order tasks.report.bands.bands_of gives), named band_name. width_bucket places the value among the
-- ascending lower bounds; an unknown value (NULL) goes to the unknown band. Identifiers value_column, the
-- banded column, and band_name; fragments lower_bounds and unknown_order, the placeholders of the values.
CASE WHEN c.{value_column} IS NULL THEN {unknown_order}::integer
     ELSE width_bucket(c.{value_column}::double precision, {lower_bounds}::double precision[]) END AS {band_name}
