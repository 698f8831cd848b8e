-- The audit trail: batches of events appended in order, each event carrying
-- the chain head after it (a SHA-256 computed by the audit package; the store
-- only keeps the bytes). Times are unix microseconds.

-- One row per appended batch: the number is the primary key, so two writers
-- can never both append batch N+1; prev is the head the batch was appended to
-- (empty for batch 1), hash the head after it.
CREATE TABLE audit_batches (
	batch     INTEGER NOT NULL PRIMARY KEY,
	first_seq INTEGER NOT NULL,
	last_seq  INTEGER NOT NULL,
	prev      BLOB    NOT NULL,
	hash      BLOB    NOT NULL,
	committed INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_events (
	seq            INTEGER NOT NULL PRIMARY KEY,
	batch          INTEGER NOT NULL,
	at             INTEGER NOT NULL,
	correlation_id TEXT    NOT NULL,
	principal_id   TEXT    NOT NULL,
	principal_type TEXT    NOT NULL,
	principal_name TEXT    NOT NULL,
	auth_method    TEXT    NOT NULL,
	client_ip      TEXT    NOT NULL,
	operation      TEXT    NOT NULL,
	scope          TEXT    NOT NULL,
	result         TEXT    NOT NULL,
	status         INTEGER NOT NULL,
	reason         TEXT    NOT NULL,
	hash           BLOB    NOT NULL
) STRICT;

-- Queries by principal and by time; the rest filter while walking seq.
CREATE INDEX audit_events_principal ON audit_events (principal_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
