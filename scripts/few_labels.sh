#!/usr/bin/env bash
# Issue 13's measurements end to end: is pretraining worth it with few labels? (README, "Few labels")
#   1. a general-domain language model on WikiText-2 (experiment=wikitext2_lm)                -> $OUT/lm
#   2. for each task, the LM continued on the task's own unlabelled training text, its words added
#      (ULMFiT's second stage; init_vocab=extend), 12 epochs, best.pt at the epoch of lowest validation
#      perplexity (chosen on a development split of AG News's pool: scripts/few_labels_dev.sh) -> $OUT/lm_<task>
#   3. seqtune ladder per task: scratch / full / gradual x label budgets x seeds               -> $OUT/ladder_<task>
# Needs $SEQTUNE_DATA_DIR with wikitext-2/, trec/, ag_news/, subj/. On 2 CPU cores: stage 1 about 35 CPU-minutes,
# stage 2 2-8 minutes per task, each ladder 30-90 minutes (ladder.jobs=2).
set -euo pipefail
OUT=${OUT:-outputs/few_labels}
TASKS=${TASKS:-trec ag_news_pool subj}
LM_EPOCHS=${LM_EPOCHS:-10}
LM2_EPOCHS=${LM2_EPOCHS:-12}
JOBS=${JOBS:-2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
ASM="objective.softmax=adaptive objective.cutoffs=[2000,10000]"

[ -f "$OUT/lm/summary.json" ] || seqtune pretrain experiment=wikitext2_lm trainer.max_epochs="$LM_EPOCHS" \
  trainer.progress=log hydra.run.dir="$OUT/lm"
for task in $TASKS; do
  [ -f "$OUT/lm_$task/summary.json" ] || seqtune pretrain dataset="$task" init_from="$OUT/lm" init_vocab=extend \
    dataset.tokenizer.min_freq=2 $ASM trainer.max_epochs="$LM2_EPOCHS" optimizer.lr=0.002 optimizer.schedule.warmup_steps=0 \
    trainer.progress=log hydra.run.dir="$OUT/lm_$task"
  seqtune ladder dataset="$task" transfer.checkpoint="$OUT/lm_$task" ladder.jobs="$JOBS" ladder.out="$OUT/ladder_$task"
done
