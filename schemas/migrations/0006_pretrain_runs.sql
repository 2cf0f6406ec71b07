-- bcos store, schema version 6: runs of kind 'pretrain' (a CLIP trained contrastively by
-- `bcos pretrain`; its checkpoints hold the model and the optimiser's state, as a distill run's
-- hold the student's). SQLite cannot change a CHECK constraint, but it can drop a column with its
-- own CHECK: the kinds are kept aside, the column is dropped (the trigger that reads it first) and
-- added again with the wider CHECK, and the kinds and the trigger are put back.

CREATE TABLE run_kinds_v6 (id INTEGER PRIMARY KEY, kind TEXT NOT NULL) STRICT;
INSERT INTO run_kinds_v6 (id, kind) SELECT id, kind FROM runs;
DROP TRIGGER eval_results_student_checkpoint;
ALTER TABLE runs DROP COLUMN kind;
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'distill' CHECK (kind IN ('distill', 'eval', 'pretrain'));
UPDATE runs SET kind = (SELECT kind FROM run_kinds_v6 WHERE run_kinds_v6.id = runs.id);
DROP TABLE run_kinds_v6;

CREATE TRIGGER eval_results_student_checkpoint BEFORE INSERT ON eval_results
    WHEN NEW.model = 'student' AND NEW.checkpoint_id IS NULL
         AND (SELECT kind FROM runs WHERE id = NEW.run_id) IS NOT 'eval'
BEGIN
    SELECT RAISE(ABORT, 'a student result needs its checkpoint outside an eval run');
END;
