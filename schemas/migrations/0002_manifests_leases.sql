-- bcos store, schema version 2: checkpoint attempts (so that the files of a checkpoint that never
-- committed can be told from those of one the store lost), the one-writer lease of a run, and
-- 'failure' events (why a run ended as failed).

CREATE TABLE checkpoint_attempts (
    -- A checkpoint folder being written: inserted (and committed) before its first file, deleted
    -- by the transaction that records the checkpoint. A folder listed here never committed in this
    -- store, so its files are debris that the next resume deletes.
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    directory TEXT NOT NULL,
    started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (run_id, directory)
) STRICT, WITHOUT ROWID;

CREATE TABLE run_leases (
    -- The one process allowed to write a run, by run name (taken before the run row is begun):
    -- a random holder id, its host and pid. The holder renews it every third of its duration; a
    -- lease past expires_at is free to take (its holder was killed or stopped).
    run TEXT PRIMARY KEY CHECK (length(run) > 0),
    holder TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    renewed_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

-- events gains the kind 'failure'; SQLite cannot change a CHECK constraint, so the table is
-- rebuilt (nothing refers to it).
CREATE TABLE events_v2 (
    -- What went wrong or was worked around: retried fetches, skipped samples, faults (such as
    -- a corrupt checkpoint file), preemptions, and the error that ended a run as failed. step is
    -- NULL outside training steps.
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER CHECK (step >= 0),
    kind TEXT NOT NULL CHECK (kind IN ('retry', 'skip', 'fault', 'preemption', 'failure')),
    reason TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 1 CHECK (count >= 1),
    detail TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO events_v2 (id, run_id, step, kind, reason, count, detail, created_at)
    SELECT id, run_id, step, kind, reason, count, detail, created_at FROM events;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_run_kind ON events (run_id, kind, step);
