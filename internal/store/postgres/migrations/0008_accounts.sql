-- AI services accounts' keys and the record of their use. The account itself
-- is a row of resources (kind Account); its keys are sealed, and lookup, a
-- keyed hash of a key's value, finds the key a caller presents through its
-- unique index. Text keys use the "C" collation, as in 0001.

CREATE TABLE account_keys (
	account TEXT COLLATE "C" NOT NULL,
	name    TEXT COLLATE "C" NOT NULL, -- key1 or key2
	version TEXT COLLATE "C" NOT NULL, -- changes at every regeneration
	value   BYTEA NOT NULL,            -- sealed
	lookup  TEXT COLLATE "C" NOT NULL UNIQUE,
	created BIGINT,
	PRIMARY KEY (account, name)
);

-- The latest use of each value of a key by each caller, written by every
-- replica every few seconds.
CREATE TABLE account_key_uses (
	account   TEXT COLLATE "C" NOT NULL,
	key_name  TEXT COLLATE "C" NOT NULL,
	version   TEXT COLLATE "C" NOT NULL,
	caller    TEXT COLLATE "C" NOT NULL,
	via       TEXT COLLATE "C" NOT NULL, -- key or token
	last_used BIGINT NOT NULL,
	PRIMARY KEY (account, key_name, version, caller, via)
);
