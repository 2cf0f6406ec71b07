-- bcos store, schema version 5: what `bcos report` shows that no table held: the explanation pictures that
-- `bcos explain --run R` records into the run R (a distill run whose student it explains), so
-- that the report embeds them without the files beside it; and the resumes of runs, marked on the
-- report's step axis.

CREATE TABLE explanations (
    -- One explanation of an image for a prompt: the picture (the colour explanation over the
    -- image, PNG bytes), the student's score e.t for the prompt, its cosine and the completeness
    -- error of the decomposition. step is the step the explained student was saved at (NULL
    -- when unknown).
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER CHECK (step >= 0),
    image TEXT NOT NULL,
    prompt TEXT NOT NULL,
    score REAL,
    cosine REAL,
    completeness_error REAL,
    png BLOB NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX explanations_by_run ON explanations (run_id, id);

CREATE TABLE resumes (
    -- Each time a run was taken up again (bcos_store_checkpoint_resume): the step of the
    -- checkpoint it went on from (0: none was usable, it started again) and its world size then.
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL CHECK (step >= 0),
    world_size INTEGER NOT NULL CHECK (world_size > 0),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
CREATE INDEX resumes_by_run ON resumes (run_id, step);
