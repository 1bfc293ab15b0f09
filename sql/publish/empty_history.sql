-- Empty segmentation.segment_history anew, before a first publish fills it in the same transaction: it then
-- takes the rows without writing them to the WAL on a server with wal_level minimal. No parameters.
TRUNCATE segmentation.segment_history
