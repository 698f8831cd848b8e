-- AI services accounts' keys and the record of their use. The account itself
-- is a row of resources (kind Account); its keys are sealed, and lookup, a
-- keyed hash of a key's value, finds the key a caller presents through its
-- unique index.

CREATE TABLE account_keys (
	account TEXT    NOT NULL,
	name    TEXT    NOT NULL, -- key1 or key2
	version TEXT    NOT NULL, -- changes at every regeneration
	value   BLOB    NOT NULL, -- sealed
	lookup  TEXT    NOT NULL UNIQUE,
	created INTEGER,
	PRIMARY KEY (account, name)
) STRICT;

-- The latest use of each value of a key by each caller, written by every
-- replica every few seconds.
CREATE TABLE account_key_uses (
	account   TEXT    NOT NULL,
	key_name  TEXT    NOT NULL,
	version   TEXT    NOT NULL,
	caller    TEXT    NOT NULL,
	via       TEXT    NOT NULL, -- key or token
	last_used INTEGER NOT NULL,
	PRIMARY KEY (account, key_name, version, caller, via)
) STRICT;
