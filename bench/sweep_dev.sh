#!/usr/bin/env bash
# The sweep that chooses the finetune defaults, scored on DEV only (the dev keys of
# metrics/summary.json); test is read once, for the configuration chosen here.
#   bash bench/sweep_dev.sh                  # queue every candidate below and run them one at a time
#   bash bench/sweep_dev.sh lr-1e-3 full-48  # only these
#   bash bench/sweep_dev.sh --show [rev...]  # the table docs/experiments.md shows (revs: the commits they ran from),
#                                            # written to bench/results/sweep_dev.md too
# Candidates are queued (`dvc exp run --queue`): each snapshots the workspace when queued, so
# editing the workspace while the queue runs does not leak into later candidates.
set -euo pipefail
cd "$(dirname "$0")/.."
# A queued or --temp experiment runs in a copy of the repository, but `pip install -e .` points
# `import wb_embedder` at the workspace's src/: edit the workspace while the queue runs and later
# candidates would run the new code with their old params. A relative PYTHONPATH is resolved in
# each stage's own working directory, so every stage imports the src/ of the copy it runs in.
export PYTHONPATH=src
keep='Experiment|finetune\.(mode|learning_rate|max_steps|lora\.top_layers)$|dev\.counts\.(improved|significantly_better|significantly_worse)$|dev\.mean\.main_score\.(finetuned|delta)(_ci_low|_ci_high)?$'
if [[ "${1:-}" == "--show" ]]; then
  # also kept in git: docs/experiments.md shows this file (python -m wb_embedder.docs)
  shift
  revs=("$@")
  [[ ${#revs[@]} -eq 0 ]] && revs=(HEAD)
  rev_flags=()
  for rev in "${revs[@]}"; do rev_flags+=(--rev "$rev"); done
  dvc exp show --md "${rev_flags[@]}" --drop '.*' --keep "$keep" | tee bench/results/sweep_dev.md
  exit 0
fi
declare -A candidates=(
  # the default itself, run from the same snapshot as the others: the row they are compared with
  [default]=""
  # the reason tag trained apart from the sentiment tasks (rejected: docs/experiments.md)
  [reason-apart]="-S triplets.groups.classification=[review_reason,goods_category,goods_gender,support_intent]"
  # the LoRA depth, learning rate and length the earlier (test-scored) sweep compared
  [top4-96]="-S finetune.lora.top_layers=4 -S finetune.max_steps=96"
  [top12]="-S finetune.lora.top_layers=12"
  [steps-48]="-S finetune.max_steps=48"
  [lr-1e-3]="-S finetune.learning_rate=0.001"
  [lr-5e-3]="-S finetune.learning_rate=0.005"
  [full-48]="-S finetune.mode=full -S finetune.learning_rate=0.00002 -S finetune.max_steps=48"
  # issue 14's before: brand variants by the pronounce rules alone (no g2p)
  [pronounce-only]="-S synonyms.strategies.g2p=false"
)
names=("$@")
[[ ${#names[@]} -eq 0 ]] && names=(default reason-apart top4-96 top12 steps-48 lr-1e-3 lr-5e-3 full-48 pronounce-only)
for name in "${names[@]}"; do
  [[ -v "candidates[$name]" ]] || { echo "unknown candidate: $name" >&2; exit 2; }
  # shellcheck disable=SC2086  # the -S options are meant to split
  dvc exp run --queue -n "$name" ${candidates[$name]}
done
dvc queue start --jobs 1
echo "queued ${#names[@]}; follow with: dvc queue status / dvc queue logs <name>"
