-- bcos store, schema version 3: runs have a kind, 'distill' (training) or 'eval' (the evaluation
-- of a bare weights file by `bcos eval`), and such an eval run may hold student results without a
-- checkpoint. SQLite cannot change a CHECK constraint, so eval_results is rebuilt (nothing refers
-- to it) and the rule that needs the run's kind becomes a trigger.

ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'distill' CHECK (kind IN ('distill', 'eval'));

CREATE TABLE eval_results_v3 (
    -- Evaluation results. A student result belongs to a checkpoint, unless its run is an eval
    -- run (a weights file evaluated on its own); a teacher result may have a checkpoint, or none
    -- (the frozen teacher evaluated once for the run). Values are as CLIP_benchmark reports them
    -- (accuracies as fractions in [0, 1]). Evaluating again replaces the row.
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
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO eval_results_v3 (id, run_id, checkpoint_id, model, dataset, split, task, metric, value, samples,
                             created_at)
    SELECT id, run_id, checkpoint_id, model, dataset, split, task, metric, value, samples, created_at
    FROM eval_results;
DROP TABLE eval_results;
ALTER TABLE eval_results_v3 RENAME TO eval_results;
CREATE UNIQUE INDEX eval_results_key
    ON eval_results (run_id, ifnull(checkpoint_id, 0), model, dataset, split, task, metric);
CREATE INDEX eval_results_by_checkpoint ON eval_results (checkpoint_id);
CREATE INDEX eval_results_by_dataset ON eval_results (dataset, run_id);

CREATE TRIGGER eval_results_student_checkpoint BEFORE INSERT ON eval_results
    WHEN NEW.model = 'student' AND NEW.checkpoint_id IS NULL
         AND (SELECT kind FROM runs WHERE id = NEW.run_id) IS NOT 'eval'
BEGIN
    SELECT RAISE(ABORT, 'a student result needs its checkpoint outside an eval run');
END;
