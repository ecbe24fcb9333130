#!/usr/bin/env bash
# Starts, or resumes exactly, a voice's training run in the background (used by train-default-voice.sh
# and train-pitch-voice.sh). The run's state (parameters + Adam moments, settings, log) is kept in
# training/NAME/ so that it survives across machines; runs/NAME/ is the working copy (git-ignored).
# Usage: bash scripts/start-run.sh NAME NEW_RUN_ARGS…   (MINUTES, WORKERS, LR_MIN from the environment)
# NEW_RUN_ARGS start the run when neither runs/NAME nor training/NAME holds one; otherwise it resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
name="$1"
shift
MINUTES="${MINUTES:-120}"
[ -f data/speech/manifest.json ] || node bin/flowvox.mjs data speech --out data/speech
mkdir -p runs
if [ ! -f "runs/$name/run.json" ] && [ -f "training/$name/run.json" ]; then
  mkdir -p "runs/$name"
  cp -r "training/$name/." "runs/$name/"
fi
if [ -f "runs/$name/run.json" ]; then args=(--resume); else args=("$@"); fi
nohup node bin/flowvox.mjs train "${args[@]}" --data data/speech --out "runs/$name" \
  --minutes "$MINUTES" ${WORKERS:+--workers "$WORKERS"} ${LR_MIN:+--lr-min "$LR_MIN"} --val-every 10 --ckpt-every 5 --json >> "runs/$name.log" 2>&1 &
echo "training in the background (pid $!); follow it with: tail -f runs/$name.log"
