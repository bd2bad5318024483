#!/usr/bin/env bash
# Issue 18's measurements end to end (README, "Classifying numeric series"): UCR sets, 1-NN baselines, and
# scratch / frozen / full fine-tuning of an autoencoder-pretrained encoder, 3 seeds, as `seqtune ladder`s.
#   1. scripts/ucr_dtw_baseline.py on every set (1-NN Euclidean and full-window DTW, archive's split) -> $OUT/dtw.json
#   2. per set: experiment=ucr_autoencoder on the set's training series + every other set's series (TRAIN and
#      TEST files of the *other* sets, values only; never this set's test file)                 -> $OUT/ae_<set>
#   3. per set: seqtune ladder experiment=ucr_classifier, strategies scratch,frozen,full x seeds  -> $OUT/ladder_<set>
#   4. ECGFiveDays again with its test series' values in pretraining (transductive, labelled so)  -> $OUT/*_transductive
# Needs $SEQTUNE_DATA_DIR with ucr/<set>/<set>_{TRAIN,TEST}.tsv. About 25 minutes on one shared CPU core.
set -euo pipefail
OUT=${OUT:-outputs/ucr}
SETS=${SETS:-ECGFiveDays GunPoint ItalyPowerDemand Coffee}
SEEDS=${SEEDS:-[1,2,3]}
STRATEGIES=${STRATEGIES:-[scratch,frozen,full]}
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

run_set() {  # set, pretraining run name, unlabelled series list, ladder name
  local set=$1 ae=$OUT/$2 unlabelled=$3 ladder=$OUT/$4 seg
  seg=$(segment "$set")
  [ -f "$ae/summary.json" ] || seqtune pretrain experiment=ucr_autoencoder dataset.set="$set" \
    dataset.segment_length="$seg" "dataset.unlabelled_series=[$unlabelled]" trainer.progress=log hydra.run.dir="$ae"
  seqtune ladder experiment=ucr_classifier dataset.set="$set" dataset.segment_length="$seg" \
    transfer.checkpoint="$ae" ladder.strategies="$STRATEGIES" ladder.seeds="$SEEDS" \
    ladder.budgets="$(budgets "$set")" ladder.out="$ladder"
}

for set in $SETS; do
  run_set "$set" "ae_$set" "$(others "$set")" "ladder_$set"
done
case " $SETS " in *" ECGFiveDays "*)
  run_set ECGFiveDays ae_ECGFiveDays_transductive "$(others ECGFiveDays),ECGFiveDays/ECGFiveDays_TEST.tsv" \
    ladder_ECGFiveDays_transductive ;;
esac
