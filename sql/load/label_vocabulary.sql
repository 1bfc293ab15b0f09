-- Every label of source.label_vocabulary with its field, canonical label and language, for reading the
-- labels of a customers file. No parameters.
SELECT field, label, canonical, language
FROM source.label_vocabulary
