-- The first schema of Latchkey on SQLite. Tables are STRICT so that a value of
-- the wrong type fails loudly instead of being stored as something else.
-- Times are unix microseconds in UTC, NULL for "no time"; tags are JSON text.

CREATE TABLE settings (
	name  TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

CREATE TABLE secret_versions (
	-- seq orders versions by insertion; AUTOINCREMENT never reuses a value.
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	vault        TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	version      TEXT    NOT NULL,
	value        BLOB    NOT NULL,
	content_type TEXT    NOT NULL,
	tags         TEXT    NOT NULL,
	enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	not_before   INTEGER,
	expires      INTEGER,
	created      INTEGER,
	updated      INTEGER,
	UNIQUE (vault, name, version)
) STRICT;

CREATE INDEX secret_versions_newest ON secret_versions (vault, name, seq);
