-- Copy a customers file's rows, typed and canonical, into source.customers (CSV from the loader).
-- Fragment columns: the CSV's columns, in its order. No parameters.
COPY source.customers ({columns}) FROM STDIN WITH (FORMAT csv)
