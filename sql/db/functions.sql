-- Every function and procedure of the documented schemas with its COMMENT, in a stable order (extensions'
-- own functions left out). Parameter: schemas (text[], in the order the page lists them).
SELECT n.nspname                                  AS schema_name,
       p.proname                                  AS function_name,
       pg_get_function_identity_arguments(p.oid)  AS arguments,
       pg_get_function_result(p.oid)              AS result,
       obj_description(p.oid, 'pg_proc')          AS function_comment
FROM pg_proc AS p
JOIN pg_namespace AS n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(%(schemas)s::text[]) AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d WHERE d.objid = p.oid AND d.deptype = 'e')
ORDER BY array_position(%(schemas)s::text[], n.nspname::text), p.proname, pg_get_function_identity_arguments(p.oid)
