#!/bin/bash
# Submits a pipeline's stages (bcos pipeline stages P.json: dependency order) as Slurm jobs, each
# running `bcos pipeline run P.json --stage NAME` through slurm/pipeline-stage.sbatch, chained with
# --dependency=afterok on the jobs of the stages it needs: a stage starts once those succeeded, and
# a failed one holds back everything after it. Stages done already (same job) are skipped by their
# jobs in seconds. Prints "STAGE JOBID" per stage. Options after P.json go to every sbatch call.
# Usage: slurm/pipeline.sh P.json [SBATCH_OPTION ...]   (BCOS: the binary, default build/bcos)
set -euo pipefail
PIPELINE=${1:?usage: slurm/pipeline.sh P.json [SBATCH_OPTION ...]}
shift
BCOS=${BCOS:-build/bcos}
STAGES=$("$BCOS" pipeline stages "$PIPELINE")
declare -A JOB_OF
while IFS=$'\t' read -r stage needs; do
  after=""
  for need in ${needs//,/ }; do after="$after:${JOB_OF[$need]}"; done
  job=$(sbatch --parsable --job-name="bcos-$stage" ${after:+--dependency=afterok$after} --export=ALL,BCOS="$BCOS" \
    "$@" slurm/pipeline-stage.sbatch "$PIPELINE" "$stage")
  JOB_OF[$stage]=${job%%;*}
  echo "$stage ${JOB_OF[$stage]}"
done <<<"$STAGES"
