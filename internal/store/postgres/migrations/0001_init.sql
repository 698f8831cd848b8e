-- The first schema of Latchkey on PostgreSQL (and the PostgreSQL-compatible
-- distributed databases). Text keys use the "C" collation so that ORDER BY
-- sorts bytewise, as SQLite does, whatever the database's locale.
-- Times are unix microseconds in UTC, NULL for "no time"; tags are JSON text.

CREATE TABLE settings (
	name  TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	value BYTEA NOT NULL
);

CREATE TABLE secret_versions (
	-- seq orders versions by insertion.
	seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	vault        TEXT COLLATE "C" NOT NULL,
	name         TEXT COLLATE "C" NOT NULL,
	version      TEXT COLLATE "C" NOT NULL,
	value        BYTEA   NOT NULL,
	content_type TEXT    NOT NULL,
	tags         TEXT    NOT NULL,
	enabled      BOOLEAN NOT NULL,
	not_before   BIGINT,
	expires      BIGINT,
	created      BIGINT,
	updated      BIGINT,
	UNIQUE (vault, name, version)
);

CREATE INDEX secret_versions_newest ON secret_versions (vault, name, seq);
