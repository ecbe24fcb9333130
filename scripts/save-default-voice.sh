#!/usr/bin/env bash
# Stops the background run (it checkpoints on SIGTERM), then copies what a later session needs to
# resume it into training/default-voice/. NAME=pitch-voice does the same for runs/pitch-voice.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${NAME:-default-voice}"
pid=$(pgrep -f "^node .*flowvox(\.mjs)? train .*--out runs/$name" | head -1 || true)
if [ -n "$pid" ]; then
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
fi
mkdir -p "training/$name/checkpoint"
cp "runs/$name/run.json" "runs/$name/train-log.csv" "training/$name/"
rm -f "training/$name/checkpoint/"*
cp "runs/$name/checkpoint/"* "training/$name/checkpoint/"
echo "saved the run state in training/$name/"
