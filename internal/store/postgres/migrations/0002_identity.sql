-- Principals, their credentials, and token signing keys. An absent app id is
-- NULL, so that users never collide on it. Text keys use the "C" collation, as
-- in 0001, so that ORDER BY sorts bytewise.

CREATE TABLE principals (
	id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	kind          TEXT COLLATE "C" NOT NULL,
	name          TEXT COLLATE "C" NOT NULL,
	app_id        TEXT COLLATE "C" UNIQUE,
	scope         TEXT    NOT NULL,
	enabled       BOOLEAN NOT NULL,
	password_hash TEXT    NOT NULL,
	created       BIGINT,
	updated       BIGINT
);

-- Users and managed identities have unique names within their kind; service
-- principals' display names need not be unique.
CREATE UNIQUE INDEX principals_name ON principals (kind, name) WHERE kind <> 'ServicePrincipal';
CREATE INDEX principals_kind ON principals (kind, id);

CREATE TABLE credentials (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	principal_id TEXT COLLATE "C" NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
	kind         TEXT COLLATE "C" NOT NULL,
	name         TEXT COLLATE "C" NOT NULL,
	data         BYTEA NOT NULL,
	created      BIGINT,
	expires      BIGINT
);

-- A credential's name is unique per principal; unnamed ones never collide.
CREATE UNIQUE INDEX credentials_name ON credentials (principal_id, name) WHERE name <> '';
CREATE INDEX credentials_principal ON credentials (principal_id);

CREATE TABLE signing_keys (
	id           TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	algorithm    TEXT  NOT NULL,
	private      BYTEA NOT NULL,
	public       BYTEA NOT NULL,
	created      BIGINT,
	active_until BIGINT,
	retire_at    BIGINT
);
