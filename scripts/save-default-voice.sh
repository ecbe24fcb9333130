#!/usr/bin/env bash
# Stops the background run (it checkpoints on SIGTERM), then copies what a later session needs to
# resume it into training/default-voice/ and ships the best model (float16) as models/default/.
set -euo pipefail
cd "$(dirname "$0")/.."
pid=$(pgrep -f "^node .*flowvox(\.mjs)? train .*--out runs/default-voice" | head -1 || true)
if [ -n "$pid" ]; then
  kill -TERM "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 2; done
fi
mkdir -p training/default-voice/checkpoint
cp runs/default-voice/run.json runs/default-voice/train-log.csv training/default-voice/
rm -f training/default-voice/checkpoint/*
cp runs/default-voice/checkpoint/* training/default-voice/checkpoint/
echo "saved the run state in training/default-voice/"
