#!/usr/bin/env bash
# The sweep that chooses the finetune defaults, scored on DEV only (the dev keys of
# metrics/summary.json); test is read once, for the configuration chosen here.
#   bash bench/sweep_dev.sh            # run the experiments (temp dirs, one at a time)
#   bash bench/sweep_dev.sh --show     # the table docs/experiments.md shows
set -euo pipefail
cd "$(dirname "$0")/.."
keep='Experiment|triplets\.groups\.classification|dev\.mean\.main_score\.(finetuned|delta)(_ci_low|_ci_high)?$|dev\.counts\.(improved|significantly_better|significantly_worse)$|dev\.WBReviews(Summarization|Polarity)?Classification\.(f1|accuracy)\.delta$'
if [[ "${1:-}" == "--show" ]]; then
  # --rev: the commit the experiments were run from (default: HEAD)
  exec dvc exp show --md --rev "${2:-HEAD}" --drop '.*' --keep "$keep"
fi
run() { dvc exp run --temp "$@"; }
run -n reason-apart -S 'triplets.groups.classification=[review_reason,goods_category,goods_gender,support_intent]'
