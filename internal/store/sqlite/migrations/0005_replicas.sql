-- How far each running process has applied the change feed (store.Replicas),
-- so that writers can wait until every live replica has seen their write.
CREATE TABLE replicas (
    id          TEXT    NOT NULL PRIMARY KEY,
    applied_seq INTEGER NOT NULL,
    seen        INTEGER NOT NULL
) STRICT;
