#!/usr/bin/env bash
# The sweep that chooses the finetune defaults, scored on DEV only (the dev keys of
# metrics/summary.json); test is read once, for the configuration chosen here.
#   bash bench/sweep_dev.sh            # run the experiments (temp dirs, one at a time)
#   bash bench/sweep_dev.sh --show     # the table the README shows
set -euo pipefail
cd "$(dirname "$0")/.."
keep='Experiment|finetune\.learning_rate|finetune\.lora\.top_layers|finetune\.max_steps|finetune\.mode|triplets\.groups\.classification|dev\.mean\.main_score\.(finetuned|delta)(_ci_low|_ci_high)?$|dev\.counts\.(improved|significantly_better|significantly_worse)$'
if [[ "${1:-}" == "--show" ]]; then
  exec dvc exp show --md --drop '.*' --keep "$keep"
fi
run() { dvc exp run --temp "$@"; }
run -n reason-apart -S 'triplets.groups.classification=[review_reason,goods_category,goods_gender,support_intent]'
run -n old-default-top4-lr2e-4-48 -S finetune.lora.top_layers=4 -S finetune.learning_rate=0.0002 -S finetune.max_steps=48
