#!/usr/bin/env python
"""Small example files in every format the README's "Bring your own data" section reads, so that its commands
run as written without data of your own:

    python scripts/make_example_data.py my_data

corpus.txt.gz (plain text, gzip), reviews.csv (text and label columns), new_reviews.txt (one text a line),
pos.txt / neg.txt (one file per class), by_class/<class>/*.txt (one folder per class), tags.conll (CoNLL
columns), load.csv (a numeric series with a date column).  Deterministic (seed 0); standard library only.
"""
from __future__ import annotations

import argparse
import gzip
import math
import random
from pathlib import Path

GOOD = "great lovely fine superb tasty".split()
BAD = "awful bland rude cold slow".split()
NOUNS = "the food the service the room the staff the view the bread".split(" the ")


def _sentence(rng: random.Random, words: list[str]) -> str:
    noun = rng.choice(["food", "service", "room", "staff", "view", "bread"])
    return f"the {noun} was {rng.choice(words)} and the {rng.choice(['price', 'place', 'music'])} was {rng.choice(words)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="folder to write the files into (created)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    corpus = [_sentence(rng, GOOD if i % 2 else BAD) + " ." for i in range(2000)]
    (out / "corpus.txt.gz").write_bytes(gzip.compress(("\n".join(corpus) + "\n").encode("utf-8"), mtime=0))
    rows = ["review,stars"] + [
        f"{_sentence(rng, GOOD if i % 2 else BAD)},{'good' if i % 2 else 'bad'}" for i in range(300)
    ]
    (out / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (out / "new_reviews.txt").write_text(
        "\n".join(_sentence(rng, GOOD if i % 2 else BAD) for i in range(5)) + "\n", encoding="utf-8"
    )
    for label, words in (("pos", GOOD), ("neg", BAD)):
        (out / f"{label}.txt").write_text(
            "\n".join(_sentence(rng, words) for _ in range(150)) + "\n", encoding="utf-8"
        )
        folder = out / "by_class" / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(60):
            (folder / f"{i:03d}.txt").write_text(_sentence(rng, words) + "\n", encoding="utf-8")
    blocks = []
    for _ in range(200):
        city, person = rng.choice(["paris", "lima", "oslo"]), rng.choice(["ana", "bo", "cy"])
        blocks.append(f"{person} B-PER\nvisited O\n{city} B-LOC\n. O\n")
    (out / "tags.conll").write_text("\n".join(blocks), encoding="utf-8")
    lines = ["date,temperature,load"]
    for h in range(1500):
        day = h // 24
        temp = 10 + 8 * math.sin(2 * math.pi * h / 24) + rng.gauss(0, 0.5)
        load = 50 + 0.8 * temp + 5 * math.sin(2 * math.pi * h / 168) + rng.gauss(0, 1)
        lines.append(f"2024-01-{1 + day % 28:02d} {h % 24:02d}:00,{temp:.3f},{load:.3f}")
    (out / "load.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} in {out}")


if __name__ == "__main__":
    main()
