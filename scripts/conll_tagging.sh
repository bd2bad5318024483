#!/usr/bin/env bash
# CoNLL-2003 NER, the README's table: the char-CNN BiLSTM-CRF from scratch and from the char-aware biLM, the
# earlier word-only tagger as the "before", every run one at a time, each under /usr/bin/time (CPU seconds), then
# scripts/tagging_report.py (test F1, seqeval's F1, F1 on entities whose words eng.train never has).
#   SEQTUNE_DATA_DIR=../shared/data bash scripts/conll_tagging.sh            # -> $OUT/*, $OUT/report.json
# Needs conll2003/ and wikitext-2/ under $SEQTUNE_DATA_DIR. A finished run (summary.json) is not run again.
set -euo pipefail
OUT=${OUT:-outputs/conll_tagging}
SEEDS=${SEEDS:-"1 2"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$OUT"

run() {  # run <name> <seqtune args...>: skipped when its summary.json exists; CPU time to <name>.time
  local name=$1; shift
  [ -f "$OUT/$name/summary.json" ] && return 0
  /usr/bin/time -v -o "$OUT/$name.time" seqtune "$@" trainer.progress=log hydra.run.dir="$OUT/$name" > "$OUT/$name.log" 2>&1
}

# bf16 autocast where the CPU multiplies bf16 natively (avx512_bf16/amx_bf16: ~2x here); elsewhere it is emulated
PRECISION=${PRECISION:-$(grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null && echo bf16 || echo fp32)}
run bilm pretrain experiment=conll_wiki_bilm trainer.precision="$PRECISION"
for seed in $SEEDS; do
  run "scratch_s$seed" finetune experiment=conll_char_crf trainer.seed="$seed"
  run "full_s$seed" finetune experiment=conll_char_crf_bilm transfer.checkpoint="$OUT/bilm" trainer.seed="$seed"
done
# before: the word-only BiLSTM tagger of experiment=conll_tagger (softmax, no characters), as the README's scratch row
run before_s1 finetune experiment=conll_tagger transfer=scratch transfer.checkpoint=null +model=lstm \
  model.bidirectional=true model.num_layers=1 model.hidden_size=128 model.embedding_size=128 model.dropout=0.2 trainer.seed=1
python "$(dirname "$0")/tagging_report.py" "$OUT"/before_s1 "$OUT"/scratch_s* "$OUT"/full_s* --json "$OUT/report.json"
grep -H "User time\|System time\|Elapsed" "$OUT"/*.time
