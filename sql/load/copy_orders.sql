-- Copy an orders file's rows, checked and converted by the loader, into source.orders (COPY text format).
-- Fragment columns: the columns the loader writes, in its order. No parameters.
COPY source.orders ({columns}) FROM STDIN
