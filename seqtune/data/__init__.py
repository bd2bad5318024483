"""The data layer; importing this package registers every dataset format and tokenizer kind.

Formats (the DATASETS registry): synthetic, text (text.py); table, trec, imdb, synthetic_topics
(labelled.py); conll (tagging.py); timeseries (timeseries.py); ucr (series_labels.py); pairs, synthetic_pairs
(pairs.py).  Entry points:
``load_lm_corpus`` and ``load_pretrain_data`` (pretraining, pretraining.py), ``load_pairs`` (seq2seq),
``load_labelled`` (fine-tuning), ``load_timeseries`` (forecasting).
"""

from seqtune.data import (
    labelled,  # noqa: F401  (registers table, trec, imdb, synthetic_topics)
    pairs,  # noqa: F401  (registers pairs, synthetic_pairs)
    series_labels,  # noqa: F401  (registers ucr)
    tagging,  # noqa: F401  (registers conll)
    text,  # noqa: F401  (registers synthetic, text)
    timeseries,  # noqa: F401  (registers timeseries)
    tokenizers,  # noqa: F401  (registers tokenizer kinds)
)
