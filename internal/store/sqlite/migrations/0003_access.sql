-- The scope tree's resources, custom roles, role assignments, eligible
-- assignments (PIM), and the change feed that keeps replicas' caches in step.
-- Booleans are INTEGER 0 or 1. Properties and permissions are the domains'
-- JSON, kept as bytes; assignable scopes are a JSON array as text.

CREATE TABLE resources (
	scope      TEXT NOT NULL PRIMARY KEY,
	kind       TEXT NOT NULL,
	name       TEXT NOT NULL,
	parent     TEXT NOT NULL,
	properties BLOB NOT NULL,
	created    INTEGER,
	updated    INTEGER
) STRICT;

-- Vaults and accounts have unique names within their kind across the tenant,
-- as DNS names are in Azure; hubs and projects are named within their parent.
CREATE UNIQUE INDEX resources_name ON resources (kind, name) WHERE kind IN ('Vault', 'Account');
CREATE INDEX resources_parent ON resources (parent, scope);
CREATE INDEX resources_kind ON resources (kind, scope);

-- name_key is the lower-cased name, so that names are unique case-insensitively.
CREATE TABLE role_definitions (
	id                TEXT NOT NULL PRIMARY KEY,
	name              TEXT NOT NULL,
	name_key          TEXT NOT NULL UNIQUE,
	description       TEXT NOT NULL,
	permissions       BLOB NOT NULL,
	assignable_scopes TEXT NOT NULL,
	created           INTEGER,
	updated           INTEGER
) STRICT;

-- No foreign key to principals or role_definitions: an assignment may name a
-- principal of another directory or a built-in role, which are not stored.
-- eligibility_id is '' for a direct assignment.
CREATE TABLE role_assignments (
	id             TEXT NOT NULL PRIMARY KEY,
	principal_id   TEXT NOT NULL,
	role_id        TEXT NOT NULL,
	scope          TEXT NOT NULL,
	expires        INTEGER,
	eligibility_id TEXT NOT NULL DEFAULT '',
	justification  TEXT NOT NULL,
	created_by     TEXT NOT NULL,
	created        INTEGER,
	UNIQUE (principal_id, role_id, scope, eligibility_id)
) STRICT;

CREATE INDEX role_assignments_principal ON role_assignments (principal_id, id);
CREATE INDEX role_assignments_scope ON role_assignments (scope, id);
CREATE INDEX role_assignments_role ON role_assignments (role_id, id);
CREATE INDEX role_assignments_eligibility ON role_assignments (eligibility_id) WHERE eligibility_id <> '';

-- max_duration is in microseconds.
CREATE TABLE eligible_assignments (
	id                    TEXT    NOT NULL PRIMARY KEY,
	principal_id          TEXT    NOT NULL,
	role_id               TEXT    NOT NULL,
	scope                 TEXT    NOT NULL,
	max_duration          INTEGER NOT NULL,
	require_justification INTEGER NOT NULL CHECK (require_justification IN (0, 1)),
	created_by            TEXT    NOT NULL,
	created               INTEGER,
	UNIQUE (principal_id, role_id, scope)
) STRICT;

CREATE INDEX eligible_assignments_principal ON eligible_assignments (principal_id, id);
CREATE INDEX eligible_assignments_scope ON eligible_assignments (scope, id);
CREATE INDEX eligible_assignments_role ON eligible_assignments (role_id, id);

-- The change feed: seq orders changes by commit, since SQLite's writers take
-- turns; AUTOINCREMENT never reuses a value, even after pruning.
CREATE TABLE changes (
	seq   INTEGER PRIMARY KEY AUTOINCREMENT,
	topic TEXT    NOT NULL,
	key   TEXT    NOT NULL,
	at    INTEGER NOT NULL
) STRICT;
