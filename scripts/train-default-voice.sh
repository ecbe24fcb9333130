#!/usr/bin/env bash
# Starts, or resumes exactly, the default voice's training run in the background.
# The run's state (parameters + Adam moments, settings, log) is kept in training/default-voice/ so
# that it survives across machines; runs/default-voice/ is the working copy (git-ignored).
# Usage: MINUTES=120 [WORKERS=N] bash scripts/train-default-voice.sh   → log in runs/default-voice.log
# WORKERS: threads (default: one per core, the fastest on the 2-core machine; 1 leaves a core free).
# LR_MIN: a new floor for the rate's plateau drops (kept in run.json), e.g. LR_MIN=2.5e-6 once it sits at 1e-5.
set -euo pipefail
# Recipe E of docs/recipe-variants.md: the fastest to converge per wall-clock hour on 2 CPU cores.
# (F, E + the auxiliary MR-STFT loss, scores closer on spectral distances but buries the output in
# a fixed per-frame buzz: see follow-up 2 there.)
# The rate halves after 30 minutes (3 validations) without a new best: what the run's manual halvings
# at 3.48 h and 4.27 h did (follow-ups 5–6); the shipped run has had it on since 4.86 h (floor 3e-5,
# lowered to 1e-5 at 11.5 h, after the drop to 3.125e-5 was followed by a new best at every validation).
# --ema: validate and keep the average of the parameters over the last ~2000 steps (follow-up 9:
# averaging two checkpoints 3400 steps apart beat both by 0.03–0.04 nats/sample); the run has had it since 7.39 h.
exec bash "$(dirname "$0")/start-run.sh" default-voice \
  --preset cpu-small --batch 16 --segment 8192 --lr 1e-3 --warmup 100 --lr-patience 3 --lr-min 1e-5 --ema 0.9995
