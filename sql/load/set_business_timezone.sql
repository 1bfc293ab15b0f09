-- Read the orders file's times in the business time zone for the rest of the load's transaction: a date or
-- a time without an offset is local time there (a date is its midnight). Parameter: timezone (IANA name).
SELECT set_config('TimeZone', %(timezone)s, true)
