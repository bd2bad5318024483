#!/usr/bin/env bash
# How long should stage 2 (the LM continued on the task's own text) run?  Chosen here on a development split
# that never touches a test split (README, "Few labels"): AG News's labelled pool (the 6,080 rows that
# dataset=ag_news_pool trains on; its 1,520 test rows are left out) becomes a dataset of its own, whose carved
# 20% test split (stratified, split_seed 0) is the development set.  Stage 2 reads only the other 80%, as the real
# runs' stage 2 never reads the real test rows; then gradual fine-tuning at 500 labels, seeds 1-3, and scratch.
#   OUT=outputs/few_labels LM=$OUT/lm bash scripts/few_labels_dev.sh      (LM: a stage-1 run, scripts/few_labels.sh)
# On 2 CPU cores: two stage-2 runs (4 and 12 epochs, about 3 and 8 CPU-minutes) and nine fine-tuning runs (under a
# minute each).
set -euo pipefail
OUT=${OUT:-outputs/few_labels}
LM=${LM:-$OUT/lm}
mkdir -p "$OUT/ag_news_dev"
DEV=$(cd "$OUT/ag_news_dev" && pwd)  # absolute: dataset.folder is read from Hydra's run directory
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
: "${SEQTUNE_DATA_DIR:?set SEQTUNE_DATA_DIR to the folder holding ag_news/test.csv}"

# The pool: the rows of ag_news/test.csv that dataset=ag_news_pool does not carve out as its test split.
python - "$SEQTUNE_DATA_DIR/ag_news/test.csv" "$DEV/pool.csv" <<'EOF'
import csv, sys
from seqtune.data.splits import stratified_split
lines = open(sys.argv[1], newline="", encoding="utf-8").read().splitlines(keepends=True)
labels = [row[0] for row in csv.reader(lines)]
pool, _test = stratified_split(labels, 0.2, 0, "test")  # as ag_news_pool: test_fraction 0.2, split_seed 0
open(sys.argv[2], "w", encoding="utf-8", newline="").write("".join(lines[i] for i in pool))
print(f"{len(pool):,} pool rows -> {sys.argv[2]}")
EOF

POOL="dataset=ag_news_pool dataset.folder=$DEV dataset.train=pool.csv"
for epochs in 4 12; do
  [ -f "$DEV/lm$epochs/summary.json" ] || seqtune pretrain $POOL init_from="$LM" init_vocab=extend \
    dataset.tokenizer.min_freq=2 objective.softmax=adaptive "objective.cutoffs=[2000,10000]" \
    trainer.max_epochs=$epochs optimizer.lr=0.002 optimizer.schedule.warmup_steps=0 trainer.progress=log \
    hydra.run.dir="$DEV/lm$epochs"
done
for seed in 1 2 3; do
  for run in lm4 lm12 scratch; do
    dir=$DEV/ft_${run}_s$seed
    strategy=$([ $run = scratch ] && echo scratch || echo gradual)
    ckpt=$([ $run = scratch ] && echo lm4 || echo $run)  # scratch reads the checkpoint's vocabulary only
    [ -f "$dir/summary.json" ] || seqtune finetune $POOL dataset.label_budget=500 transfer=$strategy \
      transfer.checkpoint="$DEV/$ckpt" trainer.seed=$seed trainer.progress=quiet hydra.run.dir="$dir"
  done
done
# "test" in these runs is the development split: the pool's carved 20%.
seqtune report "$DEV"
