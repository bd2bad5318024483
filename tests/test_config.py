"""Every shipped config composes and builds; typos, wrong types and unknown names fail with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from seqtune.training.validation import validate_pretrain as validate
from seqtune.data.tokenizers import fit_tokenizer, TokenizerSettings
from seqtune.errors import ConfigError
from seqtune.training.optim import build_optimizer, build_schedule
from seqtune.objectives import build_model
from tests.conftest import compose_config, experiment_command, run_cli

CONF = Path(__file__).resolve().parents[1] / "conf"


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in ("model", "objective", "dataset", "optimizer", "debug", "experiment"):
        assert options(group), f"conf/{group}/ has no options"


# Options that are only valid together with others (config.validate's cross-field rules): what each needs.
_SERIES = ["objective=forecast", "model.input=numeric"]
COMPANIONS: dict[tuple[str, str], list[str]] = {
    ("objective", "mlm"): ["model.bidirectional=true"],
    ("objective", "bilm"): ["model.bidirectional=true", "model.num_layers=1"],
    ("objective", "forecast"): ["dataset=etth1", "model.input=numeric"],
    ("objective", "masked_values"): ["dataset=etth1", "model.input=numeric"],
    ("objective", "series_autoencoder"): ["dataset=ucr", "dataset.set=GunPoint", "model.input=numeric"],
    ("objective", "seq2seq"): ["dataset=reversal"],
    **{("dataset", d): _SERIES for d in ("etth1", "etth2", "ettm1", "ettm2", "timeseries")},
    ("dataset", "ucr"): ["objective=masked_values", "model.input=numeric", "dataset.set=GunPoint"],
    ("dataset", "reversal"): ["objective=seq2seq"],
    ("dataset", "pairs"): ["objective=seq2seq", "dataset.train=pairs.tsv"],
    ("dataset", "class_files"): ["dataset.classes={pos: pos.txt, neg: neg.txt}"],
    ("dataset", "class_folders"): ["dataset.train=reviews"],
    # their adaptive-softmax cutoffs are ranks of WikiText-2's 28k words; the test's vocabulary has 13 tokens
    **{("experiment", e): ["objective.cutoffs=[]"] for e in ("wikitext2_lm", "wikitext2_awd")},
}
# What the data would tell the objective builder for a numeric series (load_pretrain_data's info).
SERIES_INFO = {
    "num_features": 1,
    "num_columns": 7,
    "target_index": 6,
    "target_std": [1.0],
    "horizon": 24,
    "lookback": 96,
    "timeseries": {"normalizer": None},
}


# Experiments of `seqtune finetune` (the others are pretraining setups): composed on the finetune root.
FINETUNE_EXPERIMENTS = tuple(o for o in options("experiment") if experiment_command(o) == "finetune")


@pytest.mark.parametrize("option", FINETUNE_EXPERIMENTS)
def test_finetune_experiments_compose_and_validate(option):
    from seqtune.training.validation import validate_finetune

    cfg = compose_config("finetune", [f"experiment={option}", "debug=smoke"])
    assert cfg != compose_config("finetune", ["debug=smoke"])
    validate_finetune(cfg)
    taggers = ("conll_tagger", "conll_char_crf", "conll_char_crf_bilm")
    assert cfg.head.name == {**dict.fromkeys(taggers, "tagger"), "etth1_regressor": "regressor"}.get(
        option, "classifier"
    )


@pytest.mark.parametrize(
    "group,option",
    [
        (g, o)
        for g in ("model", "objective", "dataset", "optimizer", "experiment")
        for o in options(g)
        if g != "experiment" or experiment_command(o) == "pretrain"
    ],
)
def test_shipped_config_composes_validates_and_builds(group, option):
    cfg = compose_config("pretrain", [f"{group}={option}", "debug=smoke", *COMPANIONS.get((group, option), [])])
    if group == "experiment":  # a global package: it must change the composed config
        assert cfg != compose_config("pretrain", ["debug=smoke"])
    else:
        assert OmegaConf.select(cfg, group) is not None
    validate(cfg)
    tok = fit_tokenizer(TokenizerSettings(kind="word"), ["a b c d e f g\n"])
    numeric = cfg.model.input == "numeric"
    if numeric:
        cfg.model.num_features = 1
    model = build_model(cfg, None if numeric else tok, SERIES_INFO if numeric else None)
    assert sum(p.numel() for p in model.parameters()) > 0
    opt = build_optimizer(cfg.optimizer, model.parameters())
    sched = build_schedule(cfg.optimizer.schedule, opt, total_steps=100, steps_per_epoch=10)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] > 0


def test_default_config_is_the_builtin_lstm_lm():
    cfg = compose_config()
    assert (cfg.model.name, cfg.objective.name, cfg.dataset.name) == ("lstm", "clm", "synthetic")


def test_misspelled_key_names_the_full_key():
    with pytest.raises(ConfigCompositionException) as err:
        compose_config("pretrain", ["trainer.batchsize=3"])
    assert "trainer.batchsize" in str(err.value.__cause__ or err.value) or "trainer.batchsize" in str(err.value)


def test_unknown_key_fails_even_when_forced_with_plus():
    cfg = compose_config("pretrain", ["+model.hiden_size=3", "+trainer_note=x"])  # Hydra lets '+' add keys ...
    with pytest.raises(ConfigError) as err:  # ... so validate() looks for keys no schema declares
        validate(cfg)
    assert "unknown config key model.hiden_size. Did you mean model.hidden_size?" in err.value.problems
    assert any(p.startswith("unknown config key trainer_note.") for p in err.value.problems)


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigCompositionException) as err:
        compose_config("pretrain", ["trainer.batch_size=abc"])
    text = str(err.value) + str(err.value.__cause__)
    assert "trainer.batch_size" in text and "abc" in text


def test_unknown_registry_name_lists_valid_names():
    cfg = compose_config("pretrain", ["model.name=lstmm"])
    tok = fit_tokenizer(TokenizerSettings(kind="word"), ["a b c\n"])
    with pytest.raises(ConfigError) as err:
        build_model(cfg, tok)
    msg = str(err.value)
    assert "model.name='lstmm'" in msg and "gru, lstm, rnn" in msg


def test_cross_field_problems_are_reported_together():
    cfg = compose_config(
        "pretrain",
        [
            "model.tie_weights=true",
            "model.embedding_size=10",
            "model.hidden_size=20",
            "model.bidirectional=true",
            "trainer.max_steps=0",
            "trainer.batch_size=-1",
        ],
    )
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    problems = err.value.problems
    joined = "\n".join(problems)
    assert len(problems) == 4, joined
    assert "model.tie_weights" in joined and "model.bidirectional=false" in joined
    assert "trainer.max_steps=0" in joined and "trainer.batch_size=-1" in joined


def test_cli_unknown_registry_name_exits_2_with_message(tmp_path):
    res = run_cli(["pretrain", "debug=smoke", "model.name=lstmm", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert res.returncode == 2
    assert "valid names are: gru, lstm, rnn" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_misspelled_key_fails_before_running(tmp_path):
    res = run_cli(["pretrain", "trainer.max_epoch=1", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert res.returncode == 2
    assert "trainer.max_epoch" in res.stderr
    assert not (tmp_path / "run").exists()
    res = run_cli(["pretrain", "trainer.batch_size=big", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert res.returncode == 2 and "trainer.batch_size" in res.stderr and "Traceback" not in res.stderr
    res = run_cli(["pretrain", "model=lstmm", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert res.returncode == 2 and "gru" in res.stderr and "lstm" in res.stderr  # Hydra lists the options


def test_every_conf_folder_ships_in_the_package():
    """conf/ is mapped into the package as seqtune.conf: a new group folder must be listed in pyproject.toml."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11+")
    project = tomllib.loads((CONF.parent / "pyproject.toml").read_text())
    setuptools_cfg = project["tool"]["setuptools"]
    folders = [CONF, *sorted(p for p in CONF.rglob("*") if p.is_dir() and not p.name.startswith("__"))]
    for folder in folders:  # nested groups (hydra/launcher) too
        module = ".".join(["seqtune.conf", *folder.relative_to(CONF).parts])
        assert (folder / "__init__.py").exists(), f"{folder} needs an empty __init__.py"
        assert setuptools_cfg["package-dir"].get(module) == str(folder.relative_to(CONF.parent)), module
        assert module in setuptools_cfg["packages"] and "*.yaml" in setuptools_cfg["package-data"][module], module


def test_debug_and_experiment_override_the_root_trainer_section():
    cfg = compose_config("pretrain", ["experiment=ptb_small", "debug=smoke"])
    assert cfg.trainer.max_steps == 6 and cfg.trainer.batch_size == 4  # debug wins over the experiment
    assert cfg.dataset.name == "ptb" and cfg.optimizer.name == "sgd"
    cfg = compose_config("pretrain", ["experiment=ptb_small"])
    assert (cfg.trainer.batch_size, cfg.trainer.bptt, cfg.model.hidden_size) == (20, 20, 200)
    assert compose_config("pretrain", ["experiment=ptb_small", "trainer.bptt=35"]).trainer.bptt == 35  # CLI wins
