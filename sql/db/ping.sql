-- A statement that reads nothing: it succeeds once the server accepts connections and runs queries.
-- No parameters.
SELECT 1
