-- Every label of source.label_vocabulary with its field and canonical label, for the extract's lookup of
-- canonical labels. No parameters.
SELECT field, label, canonical
FROM source.label_vocabulary
