-- Principals, their credentials, and token signing keys. Booleans are INTEGER
-- 0 or 1; an absent app id is NULL, so that users never collide on it.

CREATE TABLE principals (
	id            TEXT    NOT NULL PRIMARY KEY,
	kind          TEXT    NOT NULL,
	name          TEXT    NOT NULL,
	app_id        TEXT    UNIQUE,
	scope         TEXT    NOT NULL,
	enabled       INTEGER NOT NULL CHECK (enabled IN (0, 1)),
	password_hash TEXT    NOT NULL,
	created       INTEGER,
	updated       INTEGER
) STRICT;

-- Users and managed identities have unique names within their kind; service
-- principals' display names need not be unique.
CREATE UNIQUE INDEX principals_name ON principals (kind, name) WHERE kind <> 'ServicePrincipal';
CREATE INDEX principals_kind ON principals (kind, id);

CREATE TABLE credentials (
	id           TEXT NOT NULL PRIMARY KEY,
	principal_id TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	kind         TEXT NOT NULL,
	name         TEXT NOT NULL,
	data         BLOB NOT NULL,
	created      INTEGER,
	expires      INTEGER
) STRICT;

-- A credential's name is unique per principal; unnamed ones never collide.
CREATE UNIQUE INDEX credentials_name ON credentials (principal_id, name) WHERE name <> '';
CREATE INDEX credentials_principal ON credentials (principal_id);

CREATE TABLE signing_keys (
	id           TEXT NOT NULL PRIMARY KEY,
	algorithm    TEXT NOT NULL,
	private      BLOB NOT NULL,
	public       BLOB NOT NULL,
	created      INTEGER,
	active_until INTEGER,
	retire_at    INTEGER
) STRICT;
