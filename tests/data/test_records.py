"""The record types and the one encoder: a series' facts keep their checkpoint form; predict encodes a line as the
labelled loader does."""
from __future__ import annotations

from omegaconf import OmegaConf

from seqtune.commands.predict import encode_inputs
from seqtune.data.encoding import encode_input, one_line
from seqtune.data.labelled import load_labelled
from seqtune.data.records import SeriesFacts, SeriesLayout
from seqtune.data.tokenizers import TokenizerSettings, fit_tokenizer


def test_series_facts_keep_the_checkpoint_form_of_a_regressor_and_of_a_forecaster():
    facts = SeriesFacts(horizon=24, lookback=96, target_index=6, targets=["OT"], target_std=[8.5], num_columns=7,
                        timeseries={"columns": ["a"]}, layout=SeriesLayout(channel_independent=False, segment_length=12))
    saved = facts.to_dict()
    assert list(saved) == ["horizon", "lookback", "target_index", "targets", "target_std", "num_columns", "timeseries",
                           "channel_independent", "subtract_last", "segment_length"]  # checkpoints' "series"
    assert SeriesFacts.from_dict(saved) == facts
    assert facts.width == 7 * 12  # multivariate segments of 12 steps
    info = facts.pretraining_info()
    assert list(info) == ["num_features", "num_columns", "target_index", "target_std", "horizon", "lookback",
                          "timeseries"] and info["num_features"] == 84  # checkpoints' "data" of a forecaster


def test_predict_encodes_a_line_as_the_loader_encodes_it(tmp_path):
    table = tmp_path / "t.tsv"
    table.write_text("text\tlabel\nthe cook slices the bread\ta\nthe singer sings\tb\n", encoding="utf-8")
    ds = OmegaConf.create({"name": "t", "format": "table", "train": str(table), "valid": str(table),
                           "test": str(table), "text_columns": ["text"], "label_column": "label", "delimiter": "\t",
                           "has_header": True, "encoding": "utf-8", "join_with": " ", "label_names": None,
                           "folder": None, "split_seed": 0, "max_length": 3,
                           "tokenizer": {"kind": "word", "lowercase": False, "max_vocab": None, "min_freq": 1,
                                         "add_eos": True, "vocab_size": 8000}})
    data = load_labelled(ds)
    lines = ["the cook slices the bread"]
    assert [e.tokens for e in encode_inputs(lines, data.tokenizer, "classification", 3)] == [data.train[0].tokens]
    tok = fit_tokenizer(TokenizerSettings(kind="word"), ["a b c"])
    assert encode_input(tok, "classification", "a\nb") == tok.encode(one_line("a\nb")) == tok.encode("a b")
    assert encode_input(tok, "tagging", "a zz b") == encode_input(tok, "tagging", ["a", "zz", "b"])
