-- Record that a repeatable object's file was applied, in the transaction that applied it.
-- Parameters: file_name (relative to sql/), checksum (SHA-256 hex of its text).
INSERT INTO public.repeatable_objects (file_name, checksum, applied_at)
VALUES (%(file_name)s, %(checksum)s, now())
ON CONFLICT (file_name) DO UPDATE SET checksum = excluded.checksum, applied_at = excluded.applied_at;
