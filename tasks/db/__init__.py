"""The database: the server (embedded or DATABASE_URL), SQL files and quoting, bulk I/O, migrations, the data dictionary."""
