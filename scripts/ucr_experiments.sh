#!/usr/bin/env bash
# Issue 18's measurements end to end (README, "Classifying numeric series"): UCR sets, 1-NN baselines, and
# scratch / frozen / full (...) fine-tuning of pretrained encoders, 3 seeds each, as `seqtune ladder`s.
#   1. scripts/ucr_dtw_baseline.py on every set (1-NN Euclidean and full-window DTW, archive's split) -> $OUT/dtw.json
#   2. aug: experiment=ucr_autoencoder on the set's own training series plus 50 warped/scaled/jittered copies
#      of each (dataset.augment_copies=50; labels and the test file never read)        -> $OUT/aug_<set>, ladder_<set>_aug
#   3. others: the same autoencoder on the set's training series + every *other* set's TRAIN and TEST files
#      (values only)                                                                     -> $OUT/ae_<set>, ladder_<set>
#   4. ECGFiveDays only: masked_values on the same pool as 3                              -> mv_ECGFiveDays, *_masked
#      and the autoencoder with ECGFiveDays' own test series' values added (transductive) -> *_transductive
#   5. scripts/ucr_cv.py on every set: the recipe chosen by 5-fold cross-validation over the training series
#      (every pool and strategy above, seeds 1-2; the test file never read)             -> cv/<set>/cv.md
# Needs $SEQTUNE_DATA_DIR with ucr/<set>/<set>_{TRAIN,TEST}.tsv. A finished run or ladder rung is kept, so a
# stopped script goes on where it stopped. About an hour on one shared CPU core (each fine-tuning run ~20 s).
set -euo pipefail
OUT=${OUT:-outputs/ucr}
SETS=${SETS:-ECGFiveDays GunPoint ItalyPowerDemand Coffee}
SEEDS=${SEEDS:-[1,2,3]}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"
python scripts/ucr_dtw_baseline.py $SETS --json "$OUT/dtw.json" | tee "$OUT/dtw.txt"

segment() { [ "$1" = ItalyPowerDemand ] && echo 2 || echo 8; }          # 24 values: 12 steps of 2
budgets() { [ "$1" = ECGFiveDays ] && echo "[10,all]" || echo "[all]"; }  # the fewest training series: a ladder
others() {  # every other set's files, comma-separated, for dataset.unlabelled_series
  local out=() s
  for s in $SETS; do [ "$s" != "$1" ] && out+=("$s/${s}_TRAIN.tsv" "$s/${s}_TEST.tsv"); done
  (IFS=,; echo "${out[*]}")
}

pretrain() {  # run name, set, overrides...
  local run=$OUT/$1 set=$2
  shift 2
  [ -f "$run/summary.json" ] || seqtune pretrain experiment=ucr_autoencoder dataset.set="$set" \
    dataset.segment_length="$(segment "$set")" "$@" trainer.progress=log hydra.run.dir="$run"
}

ladder() {  # set, pretraining run name, ladder name, strategies
  seqtune ladder experiment=ucr_classifier dataset.set="$1" dataset.segment_length="$(segment "$1")" \
    transfer.checkpoint="$OUT/$2" ladder.strategies="$4" ladder.seeds="$SEEDS" \
    ladder.budgets="$(budgets "$1")" ladder.out="$OUT/$3"
}

for set in $SETS; do
  pretrain "aug_$set" "$set" dataset.augment_copies=50
  ladder "$set" "aug_$set" "ladder_${set}_aug" "[scratch,frozen,full]"
  pretrain "ae_$set" "$set" "dataset.unlabelled_series=[$(others "$set")]"
  more=$([ "$set" = ECGFiveDays ] && echo ",gradual,multitask" || true)
  ladder "$set" "ae_$set" "ladder_$set" "[scratch,frozen,full$more]"
done
case " $SETS " in *" ECGFiveDays "*)
  pretrain mv_ECGFiveDays ECGFiveDays objective=masked_values objective.span_length=2 objective.mask_rate=0.3 \
    "dataset.unlabelled_series=[$(others ECGFiveDays)]"
  ladder ECGFiveDays mv_ECGFiveDays ladder_ECGFiveDays_masked "[scratch,frozen,full,gradual]"
  pretrain ae_ECGFiveDays_transductive ECGFiveDays \
    "dataset.unlabelled_series=[$(others ECGFiveDays),ECGFiveDays/ECGFiveDays_TEST.tsv]"
  ladder ECGFiveDays ae_ECGFiveDays_transductive ladder_ECGFiveDays_transductive "[scratch,frozen,full]" ;;
esac
for set in $SETS; do
  python "$(dirname "$0")/ucr_cv.py" --set "$set" --segment "$(segment "$set")" --folds 5 --seeds 1 2 --sets $SETS --out "$OUT/cv"
done
