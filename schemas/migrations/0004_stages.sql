-- bcos store, schema version 4: the stages of pipelines (`bcos pipeline run`). A stage is one job of
-- a pipeline; its row says which job ran (the sha256 of the checked job text), under which run of
-- the store (distill and eval stages; NULL for the others), how it ended and when. A pipeline run
-- again skips the stages done with the same job and refuses a stage whose job changed.

CREATE TABLE stages (
    -- status: 'running' (started; a crash leaves it so), 'done', 'failed' (the job exited with an
    -- error) or 'interrupted' (stopped by a signal or preempted after a checkpoint: it resumes).
    pipeline TEXT NOT NULL CHECK (length(pipeline) > 0),
    stage TEXT NOT NULL CHECK (length(stage) > 0),
    kind TEXT NOT NULL CHECK (length(kind) > 0),
    job_sha256 TEXT NOT NULL CHECK (length(job_sha256) = 64),
    run TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed', 'interrupted')),
    exit_status INTEGER,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at TEXT,
    PRIMARY KEY (pipeline, stage)
) STRICT;
