-- A batch's events are stored with the batch, as one blob (the store's own
-- encoding, internal/store/sqlstore/auditblob.go): one insert per batch
-- instead of one row per event. first_at is the batch's earliest event time
-- (unix microseconds), so listings up to a time skip later batches.
--
-- Batches appended before this migration keep their events in audit_events
-- and no blob (events is NULL); they are read from there until retention
-- prunes them. Their first_at comes from those rows.
ALTER TABLE audit_batches ADD COLUMN events BLOB;
ALTER TABLE audit_batches ADD COLUMN first_at INTEGER NOT NULL DEFAULT 0;
UPDATE audit_batches SET first_at = COALESCE(
	(SELECT MIN(at) FROM audit_events WHERE audit_events.batch = audit_batches.batch), committed);

-- Events are found by walking batches now; the index by principal only
-- served the rows, which no longer grow.
DROP INDEX audit_events_principal;
