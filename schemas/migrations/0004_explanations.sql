-- bcos store: explanation pictures. `bcos explain --run R` records each picture it writes into the
-- run R (a distill run whose student it explains), so that `bcos report` shows them without the
-- files beside it.

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
