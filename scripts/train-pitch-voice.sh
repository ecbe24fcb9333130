#!/usr/bin/env bash
# Starts, or resumes exactly, the pitch-predictor voice's run in the background: the default voice's
# flow plus a pitch predictor (flowvox train --predictor), fine-tuned by likelihood (follow-up 19 of
# docs/recipe-variants.md). State kept in training/pitch-voice/ across machines, working copy in runs/pitch-voice/.
# Usage: MINUTES=120 [WORKERS=N] bash scripts/train-pitch-voice.sh   → log in runs/pitch-voice.log
# FROM: the model a new run starts from (default: the default voice run's best, float32, else models/default).
set -euo pipefail
cd "$(dirname "$0")/.."
FROM="${FROM:-$( [ -f runs/default-voice/best/config.json ] && echo runs/default-voice/best || echo models/default )}"
# The default voice's settings (batch, segment, no dequantisation, its final rate 2.5e-6 and EMA), so
# validation NLL compares with its run; the predictor's gain at 5e-5 (follow-up 18: steady, where 1e-3 overshot).
# --learn-pitch: the likelihood moves the pretrained pitch net too (follow-up 20: 0.0027 nats/sample ahead of
# a fixed net after 1250 steps; the published run switched it on at step 4050, a resumed run keeps it).
exec bash scripts/start-run.sh pitch-voice \
  --init-from "$FROM" --predictor --pitch-minutes 12 --predictor-lr 5e-5 --learn-pitch --batch 16 --segment 8192 --dequantize 0 \
  --lr 2.5e-6 --warmup 100 --lr-patience 3 --lr-min 2.5e-6 --ema 0.9995
