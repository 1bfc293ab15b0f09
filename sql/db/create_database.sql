-- Create the embedded server's database (outside a transaction: CREATE DATABASE cannot run in one).
-- Identifier database: its name. No parameters.
CREATE DATABASE {database}
