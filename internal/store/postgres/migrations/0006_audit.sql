-- The audit trail: batches of events appended in order, each event carrying
-- the chain head after it (a SHA-256 computed by the audit package; the store
-- only keeps the bytes). Times are unix microseconds. Text columns that are
-- filtered on use the "C" collation, as in 0001.

-- One row per appended batch: the number is the primary key, so two writers
-- can never both append batch N+1 (the second waits for the first and finds
-- the key taken); prev is the head the batch was appended to (empty for
-- batch 1), hash the head after it.
CREATE TABLE audit_batches (
	batch     BIGINT NOT NULL PRIMARY KEY,
	first_seq BIGINT NOT NULL,
	last_seq  BIGINT NOT NULL,
	prev      BYTEA  NOT NULL,
	hash      BYTEA  NOT NULL,
	committed BIGINT NOT NULL
);

CREATE TABLE audit_events (
	seq            BIGINT NOT NULL PRIMARY KEY,
	batch          BIGINT NOT NULL,
	at             BIGINT NOT NULL,
	correlation_id TEXT COLLATE "C" NOT NULL,
	principal_id   TEXT COLLATE "C" NOT NULL,
	principal_type TEXT COLLATE "C" NOT NULL,
	principal_name TEXT COLLATE "C" NOT NULL,
	auth_method    TEXT COLLATE "C" NOT NULL,
	client_ip      TEXT COLLATE "C" NOT NULL,
	operation      TEXT COLLATE "C" NOT NULL,
	scope          TEXT COLLATE "C" NOT NULL,
	result         TEXT COLLATE "C" NOT NULL,
	status         BIGINT NOT NULL,
	reason         TEXT   NOT NULL,
	hash           BYTEA  NOT NULL
);

-- Queries by principal and by time; the rest filter while walking seq.
CREATE INDEX audit_events_principal ON audit_events (principal_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);
