-- bcos store, schema version 1: runs, their checkpoints and checkpoint files, training metrics,
-- evaluation results and events. Run by src/store/migrate.c inside one transaction, which then
-- sets PRAGMA user_version to 1. Comments inside the statements stay in the database's schema
-- (and in schemas/store.sql, which tools/dump_schema.sh writes from these files).
PRAGMA application_id = 1650683763; -- 0x62636F73, "bcos": marks the file as a bcos store

CREATE TABLE runs (
    -- One training or evaluation run, by its unique name. job_text is the job file as given,
    -- so that a resume can insist on the same job (job_sha256) and a reader sees what ran.
    -- Times here and in every table are UTC, ISO 8601 with milliseconds.
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
    job_text TEXT NOT NULL,
    job_sha256 TEXT NOT NULL CHECK (length(job_sha256) = 64),
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'done', 'failed', 'preempted')),
    world_size INTEGER NOT NULL CHECK (world_size > 0),
    code_version TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE checkpoints (
    -- A row is inserted only once all the checkpoint's files are written and hashed, so the
    -- commit of that insert is the checkpoint. state: 'complete' (usable), 'retired' (dropped
    -- by retention, files deleted, the row kept for the results that refer to it), 'corrupt'
    -- (a file failed its sha256 at resume). A step has at most one complete checkpoint.
    -- data_cursors is a JSON array with one element per rank; rng_state is opaque to the store.
    -- directory is relative to the checkpoint root, "<database path>-checkpoints/".
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL CHECK (step >= 0),
    epoch INTEGER NOT NULL CHECK (epoch >= 0),
    samples_seen INTEGER NOT NULL CHECK (samples_seen >= 0),
    world_size INTEGER NOT NULL CHECK (world_size > 0),
    data_cursors TEXT NOT NULL
        CHECK (json_valid(data_cursors) AND json_array_length(data_cursors) = world_size),
    rng_state BLOB NOT NULL,
    directory TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'complete' CHECK (state IN ('complete', 'retired', 'corrupt')),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX checkpoints_by_run_step ON checkpoints (run_id, step);
CREATE UNIQUE INDEX checkpoints_complete_step ON checkpoints (run_id, step) WHERE state = 'complete';

CREATE TABLE checkpoint_files (
    -- The safetensors files of a checkpoint ('model', 'optimizer', ...): path relative to the
    -- checkpoint root, size and sha256 of the bytes on disk.
    checkpoint_id INTEGER NOT NULL REFERENCES checkpoints (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(name) > 0),
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes >= 0),
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    PRIMARY KEY (checkpoint_id, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE metrics (
    -- Training metrics, one row per step; a step trained again after a resume replaces its row.
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL CHECK (step >= 0),
    loss REAL,
    cos REAL,
    lr REAL,
    grad_norm REAL,
    images_per_s REAL,
    skipped_samples INTEGER NOT NULL DEFAULT 0 CHECK (skipped_samples >= 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (run_id, step)
) STRICT, WITHOUT ROWID;

CREATE TABLE eval_results (
    -- Evaluation results. A student result belongs to a checkpoint; a teacher result may too,
    -- or have none (the frozen teacher evaluated once for the run). Values are as CLIP_benchmark
    -- reports them (accuracies as fractions in [0, 1]). Evaluating again replaces the row.
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    checkpoint_id INTEGER REFERENCES checkpoints (id) ON DELETE CASCADE,
    model TEXT NOT NULL CHECK (model IN ('teacher', 'student')),
    dataset TEXT NOT NULL CHECK (length(dataset) > 0),
    split TEXT NOT NULL CHECK (length(split) > 0),
    task TEXT NOT NULL DEFAULT 'zeroshot_classification' CHECK (length(task) > 0),
    metric TEXT NOT NULL CHECK (length(metric) > 0),
    value REAL,
    samples INTEGER NOT NULL CHECK (samples >= 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (model = 'teacher' OR checkpoint_id IS NOT NULL)
) STRICT;
CREATE UNIQUE INDEX eval_results_key
    ON eval_results (run_id, ifnull(checkpoint_id, 0), model, dataset, split, task, metric);
CREATE INDEX eval_results_by_checkpoint ON eval_results (checkpoint_id);
CREATE INDEX eval_results_by_dataset ON eval_results (dataset, run_id);

CREATE TABLE events (
    -- What went wrong or was worked around: retried fetches, skipped samples, faults (such as
    -- a corrupt checkpoint file), preemptions. step is NULL outside training steps.
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER CHECK (step >= 0),
    kind TEXT NOT NULL CHECK (kind IN ('retry', 'skip', 'fault', 'preemption')),
    reason TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    detail TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX events_by_run_kind ON events (run_id, kind, step);
