"""Token tagging data (NER, chunking, POS): CoNLL-style column files -> token sequences + tag sequences.

Registered as the ``conll`` format; :func:`seqtune.data.labelled.load_labelled` turns it into examples whose
``label`` is one tag id per token, with the tag vocabulary in ``LabelledData.labels``.  Tags are converted to
IOB2 by default (CoNLL-2003's original files are IOB1); ``-DOCSTART-`` lines are skipped.  Each token maps to
exactly one id, so tagging needs a word-level tokenizer (``word`` or ``basic_english``; ``encoding.py``).
"""

from __future__ import annotations

from pathlib import Path

from seqtune.data.catalog import read_splits
from seqtune.data.formats import read_conll
from seqtune.data.records import RawLabelled, dataset_format


@dataset_format("conll", holds="tagged")
def conll_splits(ds) -> RawLabelled:
    def reader(path: Path) -> tuple[list[list[str]], list[list[str]]]:
        return read_conll(
            path,
            token_column=ds.token_column,
            tag_column=ds.tag_column,
            encoding=ds.encoding,
            scheme=ds.scheme,
            to_scheme=ds.to_scheme,
        )

    note = f"tags converted to {ds.to_scheme.upper()}" if ds.to_scheme else "tags as written"
    return RawLabelled("tagging", *read_splits(ds, reader), notes=[note])
