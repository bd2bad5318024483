"""Entity scores of fine-tuned taggers' test predictions, overall and on entities never seen in training.

For each run directory (a `seqtune finetune` tagger run: its config.yaml names the dataset, its
test_predictions.jsonl holds one tag list per test sentence, in file order) this prints:

- test entity P/R/F1 by seqtune's conlleval rules (``seqtune.heads.scores``), recomputed from the predictions, and the
  same F1 by seqeval (``pip install seqeval``; its default mode follows conlleval) when it is installed;
- "unseen": P/R/F1 on the entities none of whose words occurs anywhere in the training file (the words a
  vocabulary fitted on it maps to <unk>), and "seen" on the others;
- the run's CPU-independent facts from summary.json (best epoch, training seconds).

    SEQTUNE_DATA_DIR=../shared/data python scripts/tagging_report.py outputs/tagging/scratch_s1 outputs/tagging/full_s1
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from omegaconf import OmegaConf

from seqtune.data.catalog import dataset_file
from seqtune.data.formats import read_conll
from seqtune.errors import SeqtuneError
from seqtune.heads.scores import entity_scores, unseen_entity_scores


def _read(ds, split: str) -> tuple[list[list[str]], list[list[str]]]:
    path = dataset_file(ds, ds[split], f"dataset.{split}")
    return read_conll(path, token_column=ds.token_column, tag_column=ds.tag_column, encoding=ds.encoding,
                      scheme=ds.scheme, to_scheme=ds.to_scheme)


def report(run_dir: Path) -> dict[str, float]:
    for name in ("config.yaml", "summary.json", "test_predictions.jsonl"):
        if not (run_dir / name).is_file():
            raise SystemExit(f"{run_dir}: no {name}; give the directory of a finished `seqtune finetune` tagger run")
    ds = OmegaConf.load(run_dir / "config.yaml").dataset
    words, gold = _read(ds, "test")
    train_words, _ = _read(ds, "train")
    known = {w for sentence in train_words for w in sentence}
    pred = [json.loads(line)["tags"] for line in (run_dir / "test_predictions.jsonl").read_text().splitlines()]
    if len(pred) != len(gold) or any(len(p) != len(g) for p, g in zip(pred, gold)):
        raise SystemExit(f"{run_dir}: test_predictions.jsonl does not line up with {ds.test} (truncated examples?)")
    overall = entity_scores(gold, pred)
    unseen = unseen_entity_scores(words, gold, pred, known)
    everything = unseen_entity_scores(words, gold, pred, set())
    seen_gold, seen_pred = everything["n_gold"] - unseen["n_gold"], everything["n_pred"] - unseen["n_pred"]
    seen_correct = overall["recall"] * everything["n_gold"] - unseen["recall"] * unseen["n_gold"]
    seen_p = seen_correct / seen_pred if seen_pred else 0.0
    seen_r = seen_correct / seen_gold if seen_gold else 0.0
    out = {"f1": overall["f1"], "precision": overall["precision"], "recall": overall["recall"],
           "unseen_f1": unseen["f1"], "unseen_precision": unseen["precision"], "unseen_recall": unseen["recall"],
           "unseen_gold": unseen["n_gold"], "gold": everything["n_gold"],
           "seen_f1": 2 * seen_p * seen_r / (seen_p + seen_r) if seen_p + seen_r else 0.0}
    try:
        from seqeval.metrics import f1_score
    except ImportError:
        pass
    else:
        out["seqeval_f1"] = f1_score(gold, pred)
    summary = json.loads((run_dir / "summary.json").read_text())
    out.update(best_epoch=summary.get("best_epoch"), train_seconds=summary.get("train/seconds"),
               summary_test_f1=summary.get("test/f1"))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="fine-tuned tagger run directories")
    parser.add_argument("--json", type=Path, help="also write every run's figures to this JSON file")
    args = parser.parse_args(argv)
    try:
        rows = {str(r): report(r) for r in args.runs}
    except SeqtuneError as e:  # a data file that is missing or malformed: the message says how to fix it
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print("| run | test F1 | seqeval F1 | unseen F1 (P / R) | seen F1 | unseen / all gold entities | best epoch |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        seqeval = f"{r['seqeval_f1']:.4f}" if "seqeval_f1" in r else "n/a"
        print(f"| {name} | {r['f1']:.4f} | {seqeval} | {r['unseen_f1']:.4f} ({r['unseen_precision']:.3f} / "
              f"{r['unseen_recall']:.3f}) | {r['seen_f1']:.4f} | {r['unseen_gold']:.0f} / {r['gold']:.0f} | "
              f"{r['best_epoch']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    sys.exit(main())
