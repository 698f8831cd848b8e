-- How far each running process has applied the change feed (store.Replicas),
-- so that writers can wait until every live replica has seen their write.
CREATE TABLE replicas (
    id          TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    applied_seq BIGINT NOT NULL,
    seen        BIGINT NOT NULL
);
