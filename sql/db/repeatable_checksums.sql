-- The checksum each repeatable object's file was last applied with: file_name, checksum. No parameters.
SELECT file_name, checksum FROM public.repeatable_objects;
