-- The scope tree's resources, custom roles, role assignments, eligible
-- assignments (PIM), and the change feed that keeps replicas' caches in step.
-- Properties and permissions are the domains' JSON, kept as bytes; assignable
-- scopes are a JSON array as text. Text keys use the "C" collation, as in 0001.

CREATE TABLE resources (
	scope      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	kind       TEXT COLLATE "C" NOT NULL,
	name       TEXT COLLATE "C" NOT NULL,
	parent     TEXT COLLATE "C" NOT NULL,
	properties BYTEA NOT NULL,
	created    BIGINT,
	updated    BIGINT
);

-- Vaults and accounts have unique names within their kind across the tenant,
-- as DNS names are in Azure; hubs and projects are named within their parent.
CREATE UNIQUE INDEX resources_name ON resources (kind, name) WHERE kind IN ('Vault', 'Account');
CREATE INDEX resources_parent ON resources (parent, scope);
CREATE INDEX resources_kind ON resources (kind, scope);

-- name_key is the lower-cased name, so that names are unique case-insensitively.
CREATE TABLE role_definitions (
	id                TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	name              TEXT COLLATE "C" NOT NULL,
	name_key          TEXT COLLATE "C" NOT NULL UNIQUE,
	description       TEXT  NOT NULL,
	permissions       BYTEA NOT NULL,
	assignable_scopes TEXT  NOT NULL,
	created           BIGINT,
	updated           BIGINT
);

-- No foreign key to principals or role_definitions: an assignment may name a
-- principal of another directory or a built-in role, which are not stored.
-- eligibility_id is '' for a direct assignment.
CREATE TABLE role_assignments (
	id             TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	principal_id   TEXT COLLATE "C" NOT NULL,
	role_id        TEXT COLLATE "C" NOT NULL,
	scope          TEXT COLLATE "C" NOT NULL,
	expires        BIGINT,
	eligibility_id TEXT COLLATE "C" NOT NULL DEFAULT '',
	justification  TEXT NOT NULL,
	created_by     TEXT NOT NULL,
	created        BIGINT,
	UNIQUE (principal_id, role_id, scope, eligibility_id)
);

CREATE INDEX role_assignments_principal ON role_assignments (principal_id, id);
CREATE INDEX role_assignments_scope ON role_assignments (scope, id);
CREATE INDEX role_assignments_role ON role_assignments (role_id, id);
CREATE INDEX role_assignments_eligibility ON role_assignments (eligibility_id) WHERE eligibility_id <> '';

-- max_duration is in microseconds.
CREATE TABLE eligible_assignments (
	id                    TEXT COLLATE "C" NOT NULL PRIMARY KEY,
	principal_id          TEXT COLLATE "C" NOT NULL,
	role_id               TEXT COLLATE "C" NOT NULL,
	scope                 TEXT COLLATE "C" NOT NULL,
	max_duration          BIGINT  NOT NULL,
	require_justification BOOLEAN NOT NULL,
	created_by            TEXT    NOT NULL,
	created               BIGINT,
	UNIQUE (principal_id, role_id, scope)
);

CREATE INDEX eligible_assignments_principal ON eligible_assignments (principal_id, id);
CREATE INDEX eligible_assignments_scope ON eligible_assignments (scope, id);
CREATE INDEX eligible_assignments_role ON eligible_assignments (role_id, id);

-- The change feed. Writers that append a change first take the table's
-- EXCLUSIVE lock (the dialect's ChangeLock) and hold it to commit, so seq
-- values commit in order and a reader never sees a later one before an
-- earlier one; plain reads are not blocked.
CREATE TABLE changes (
	seq   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	topic TEXT COLLATE "C" NOT NULL,
	key   TEXT COLLATE "C" NOT NULL,
	at    BIGINT NOT NULL
);
