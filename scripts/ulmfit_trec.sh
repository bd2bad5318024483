#!/usr/bin/env bash
# ULMFiT on TREC-6, the three stages, then every transfer strategy at several label budgets and seeds:
#   1. language model on WikiText-2 (general domain)      -> $OUT/wt2
#   2. continued on TREC's own training questions (init_from) -> $OUT/wt2_trec   (ULMFiT's second stage)
#   3. scripts/compare_transfer.py: scratch, frozen, full, gradual (+ discriminative lrs + STLR)
#      on TREC-6 at $BUDGETS labels with $SEEDS seeds -> $OUT/compare/{results.csv,table.md,plot.png}
# Test error = 1 - test/acc.  Needs $SEQTUNE_DATA_DIR with wikitext-2/ and trec/.
# Sizes are set for a CPU; on a GPU raise WT2_STEPS (-1: every epoch) and the model size.
set -euo pipefail
OUT=${OUT:-outputs/ulmfit_trec}
WT2_STEPS=${WT2_STEPS:-2000}        # optimizer steps of stage 1 (an epoch of WikiText-2 is ~1,865 at 32x35 tokens; -1: 4 epochs)
TREC_EPOCHS=${TREC_EPOCHS:-2}       # stage 2 epochs on TREC's questions
BUDGETS=${BUDGETS:-100,500,all}
SEEDS=${SEEDS:-1,2,3}
FT_EPOCHS=${FT_EPOCHS:-5}
MODEL="model.embedding_size=200 model.hidden_size=256 model.num_layers=2 model.dropout=0.2"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

[ -f "$OUT/wt2/checkpoints/best.pt" ] || seqtune pretrain dataset=wikitext2 dataset.tokenizer.lowercase=true \
  dataset.tokenizer.max_vocab=8000 $MODEL trainer.max_steps="$WT2_STEPS" trainer.eval_interval=500 \
  trainer.limit_eval_batches=50 trainer.progress=log hydra.run.dir="$OUT/wt2"
[ -f "$OUT/wt2_trec/checkpoints/best.pt" ] || seqtune pretrain dataset=trec init_from="$OUT/wt2" \
  trainer.max_epochs="$TREC_EPOCHS" optimizer.lr=0.002 optimizer.schedule.warmup_steps=0 trainer.progress=log hydra.run.dir="$OUT/wt2_trec"
python "$(dirname "$0")/compare_transfer.py" --dataset trec --checkpoint "$OUT/wt2_trec" --budgets "$BUDGETS" \
  --seeds "$SEEDS" --epochs "$FT_EPOCHS" --batch-size 32 --min-steps 150 --out "$OUT/compare" -- "$@"
