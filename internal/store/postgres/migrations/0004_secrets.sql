-- Secrets as a whole: which version is current and whether the secret is
-- soft-deleted. secret_versions keeps the versions, unchanged; a secret's row
-- exists exactly when it has versions, and writers lock it before they touch
-- its versions. Text keys use the "C" collation, as in 0001.

CREATE TABLE secrets (
	vault           TEXT COLLATE "C" NOT NULL,
	name            TEXT COLLATE "C" NOT NULL,
	current_version TEXT COLLATE "C" NOT NULL,
	deleted         BIGINT, -- NULL: not deleted
	scheduled_purge BIGINT, -- NULL unless deleted with a purge date
	created         BIGINT,
	updated         BIGINT,
	PRIMARY KEY (vault, name)
);

-- Active secrets are listed through the primary key; deleted ones, usually
-- few, through this index, and the purge job finds those due through the next.
CREATE INDEX secrets_deleted ON secrets (vault, name) WHERE deleted IS NOT NULL;
CREATE INDEX secrets_due ON secrets (scheduled_purge, vault, name) WHERE scheduled_purge IS NOT NULL;

-- Every secret already stored gets its row: current is its newest version (the
-- highest seq), created is its oldest version's, updated the latest of all.
INSERT INTO secrets (vault, name, current_version, deleted, scheduled_purge, created, updated)
SELECT v.vault, v.name, v.version, NULL, NULL,
	(SELECT o.created FROM secret_versions o WHERE o.vault = v.vault AND o.name = v.name ORDER BY o.seq LIMIT 1),
	(SELECT MAX(u.updated) FROM secret_versions u WHERE u.vault = v.vault AND u.name = v.name)
FROM secret_versions v
WHERE v.seq = (SELECT MAX(n.seq) FROM secret_versions n WHERE n.vault = v.vault AND n.name = v.name);
