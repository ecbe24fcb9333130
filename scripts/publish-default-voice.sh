#!/usr/bin/env bash
# Ships the default voice's best checkpoint as models/default, with everything that depends on its
# weights: float16 conversion, the voicing call of a pitch predictor, σ per latent level and envelope matching (tune-latent), test and test-unseen evaluation, the model card, the sample clips in
# audio/, and the anomaly calibration. Run after scripts/save-default-voice.sh.
# Usage: HARMONICS="no: noise-like, no harmonic lines" bash scripts/publish-default-voice.sh
# (HARMONICS: what audio/*.png show, judged by a person; the card quotes it. Optional NOTE: a
# paragraph for the card's Training section, e.g. the run's history. FROM=last ships the run's latest
# model instead of its best by validation NLL, e.g. after an extra loss made the NLL a poor guide.
# RUN=runs/pitch-voice ships another run's model, e.g. the pitch-predictor voice's.)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${HARMONICS:?set HARMONICS to what the spectrograms in audio/*.png show}"
run="${RUN:-runs/default-voice}"
fv() { node bin/flowvox.mjs "$@"; }
from="$run/${FROM:-best}"
fv convert --model "$from" --out models/default --dtype float16
# The pitch net's voiced/unvoiced call, which gates the pitch emphasis, refitted to these weights
# (likelihood training of the net leaves it behind; follow-up 21). No NLL changes.
if grep -q '"predictor"' models/default/config.json; then
  fv calibrate-voicing --model models/default --data data/speech --json | tail -1 | tee "$run/calibrate-voicing.json"
fi
# σ per latent level for these weights, chosen on the validation split, and ENVELOPE iterations of
# mel-envelope matching after synthesis (default 8; docs/recipe-variants.md follow-ups 16–17), both kept in
# config.json "synthesis": everything below synthesises with them.
fv tune-latent --model models/default --data data/speech --split validation --max-files 24 --envelope "${ENVELOPE:-8}" --write --json | tail -1 | tee "$run/tune-latent.json"
fv export-samples --model models/default --data data/speech --count 4 --seconds 3 --out audio
fv evaluate --model models/default --data data/speech --split test --max-files 12 --out "$run/eval-test.json" --json | tail -1
fv evaluate --model models/default --data data/speech --split test-unseen --max-files 6 --out "$run/eval-unseen.json" --json | tail -1
fv card --run "$run" --model models/default --eval "$run/eval-test.json" --eval "$run/eval-unseen.json" \
  --data data/speech --train-backend wasm --harmonics "$HARMONICS" ${NOTE:+--note "$NOTE"} --json | tail -1
# The calibration's thresholds are statistics of these weights' likelihoods: redo it with them.
fv calibrate --model models/default --normal data/speech --out models/default/anomaly-calibration.json --json | tail -1
echo "published $from as models/default"
