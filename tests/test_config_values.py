"""Every value a user can type for every leaf key of every command: a clear ConfigError naming the key, or a value
inside the key's rule (seqtune/config/values.py); never another exception.

Each command's config is composed once per baseline (a root, or a root with one option of a group, chosen so that
the baseline itself validates); a case assigns one value to one leaf of a copy, as Hydra's override does (a typed
node refuses a value of the wrong type there: Hydra's one-paragraph composition error, exit 2, is what the user
sees), then runs the command's own validation.  The catalogue (tests/test_bad_inputs.py) runs the issue's examples
through the real command line, where exit status 2, one paragraph and no run folder are asserted.
"""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from seqtune.cli import _register_resolver
from seqtune.config.rules import device_problems
from seqtune.config.schema import register_configs
from seqtune.config.values import HUGE, Range, leaf_problem, leaves, rule_of, value_problems
from seqtune.errors import ConfigError
from seqtune.training.validation import validate_finetune, validate_pretrain

CONF = Path(__file__).resolve().parents[1] / "seqtune" / "conf"
if not CONF.is_dir():
    CONF = Path(__file__).resolve().parents[1] / "conf"

# Baselines: (command, overrides).  Each option of the groups whose options add keys, in a setting where it is valid.
BASE: list[tuple[str, tuple[str, ...]]] = [
    ("pretrain", ()),
    ("finetune", ()),
    ("finetune", ("transfer=scratch", "+model=lstm")),
    ("evaluate", ()),
    ("predict", ()),
    ("generate", ()),
]
_OPTION_TRIES = {
    "objective": [(), ("model.bidirectional=true",), ("dataset=etth1", "model.input=numeric"), ("dataset=reversal",)],
    "head": [(), ("dataset=conll",), ("dataset=etth1",)],
    "dataset": [(), ("head=tagger",), ("head=regressor",), ("head=classifier", "dataset.set=GunPoint")],
    "transfer": [()],
    "optimizer": [()],
}


def _validate(command: str, cfg: DictConfig) -> None:
    if command == "pretrain":
        validate_pretrain(cfg)
    elif command == "finetune":
        validate_finetune(cfg)
    else:  # evaluate / predict / generate: open_run_checkpoint's checks before it reads a checkpoint
        problems = value_problems(cfg) + device_problems("device", cfg.device)
        if problems:
            raise ConfigError(problems)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture(scope="module")
def roots() -> list[tuple[str, tuple[str, ...], DictConfig]]:
    return compose_roots()


@pytest.fixture(scope="module")
def baselines(roots) -> list[tuple[str, tuple[str, ...], DictConfig]]:
    return compose_baselines(roots)


def compose_roots() -> list[tuple[str, tuple[str, ...], DictConfig]]:
    """(command, overrides, composed config) of the roots, each valid as it is."""
    register_configs()
    _register_resolver()
    found = []
    with initialize_config_module(config_module="seqtune.conf", version_base="1.3"):
        for command, overrides in BASE:
            cfg = compose(config_name=command, overrides=list(overrides))
            _validate(command, copy.deepcopy(cfg))
            found.append((command, overrides, cfg))
    return found


def compose_baselines(roots: list) -> list[tuple[str, tuple[str, ...], DictConfig]]:
    """The roots, and each option of the groups whose options add keys, in a setting where it validates."""
    found = list(roots)
    with initialize_config_module(config_module="seqtune.conf", version_base="1.3"):
        for group, tries in _OPTION_TRIES.items():
            command = "finetune" if group in ("head", "transfer") else "pretrain"
            for option in _options(group):
                for extra in tries:
                    cmd = "finetune" if command == "finetune" or "head=" in " ".join(extra) else command
                    over = (f"{group}={option}", *extra)
                    try:
                        cfg = compose(config_name=cmd, overrides=list(over))
                        _validate(cmd, copy.deepcopy(cfg))
                    except (ConfigError, OmegaConfBaseException, Exception):  # noqa: B014 - try the next setting
                        continue
                    found.append((cmd, over, cfg))
                    break
    return found


def _assign(cfg: DictConfig, key: str, value: object) -> None:
    OmegaConf.update(cfg, key, value, merge=False, force_add=False)


def attempt(command: str, cfg: DictConfig, key: str, value: object, stored: list | None = None) -> str:
    """'typing' (refused by the schema), 'rejected' (a ConfigError naming the key) or 'accepted'; anything else
    fails the test (it would be a traceback).  ``stored`` receives the value as the config holds it (a typed
    node converts: 5 -> "5" for a string, 1 -> 1.0 for a float)."""
    case = copy.deepcopy(cfg)
    try:
        _assign(case, key, value)
    except OmegaConfBaseException:
        return "typing"
    if stored is not None:
        stored.append(dict(leaves(case)).get(key))
    try:
        _validate(command, case)
    except ConfigError as exc:
        text = str(exc)
        chooses = key.endswith((".format", "name", ".kind"))  # another component: its own keys may then be wrong
        assert chooses or key.split(".")[-1] in text, f"{key}={value!r}: the message does not name the key: {text}"
        assert "Traceback" not in text
        return "rejected"
    return "accepted"


NUMBER_VALUES = [math.nan, math.inf, -math.inf, -1, -0.5, 0, 10**12, 1e300, "abc", "", None, [1, 2]]
TEXT_VALUES = ["", None, 10**12, -1, math.nan, [1, 2]]


def _values_for(current: object) -> list[object]:
    return TEXT_VALUES if isinstance(current, str) else NUMBER_VALUES


@pytest.mark.slow  # about a minute on a loaded 2-core machine; the hypothesis test below samples the same space
def test_every_leaf_of_every_command_is_checked(baselines):
    """The sweep: every leaf key x non-finite, negative, zero, empty, wrong-type, null and huge values."""
    counts: Counter[str] = Counter()
    keys: set[str] = set()
    accepted_bad: list[str] = []
    for command, overrides, cfg in baselines:
        for key, current in leaves(cfg):
            if isinstance(current, bool) or key in keys:
                continue  # each key once, in the first baseline that has it
            keys.add(key)
            for value in _values_for(current):
                outcome = attempt(command, cfg, key, value)
                counts[outcome] += 1
                if outcome == "accepted" and _always_bad(key, current, value):
                    accepted_bad.append(f"{command} {' '.join(overrides)}: {key}={value!r}")
    print(f"\n{len(keys)} keys, {sum(counts.values())} values: {dict(counts)}")
    assert not accepted_bad, "accepted values that no command can use:\n" + "\n".join(accepted_bad)
    assert len(keys) > 140 and counts["rejected"] > 500


def _always_bad(key: str, current: object, value: object) -> bool:
    """Values no number key takes: NaN and infinity, an integer count past 2**31, a wrong type.  (A text key takes
    any string: `nan` may name a file.)"""
    rule = rule_of(key)
    if isinstance(current, str) or current is None and not isinstance(rule, Range):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return True
    if isinstance(value, int) and value > HUGE and isinstance(current, int):
        return True
    if isinstance(rule, Range) and (value == "abc" or value == [1, 2] and key != "optimizer.betas"):
        return True
    return False


def test_the_issue_examples_are_clear_errors(roots):
    by = {(c, o): cfg for c, o, cfg in roots}
    pre, fine = by[("pretrain", ())], by[("finetune", ())]
    gen, pred = by[("generate", ())], by[("predict", ())]
    for command, cfg, key, value, phrase in [
        ("pretrain", pre, "optimizer.lr", math.nan, "optimizer.lr=nan is not a finite number"),
        ("pretrain", pre, "optimizer.weight_decay", -0.1, "optimizer.weight_decay=-0.1 is out of range"),
        ("finetune", fine, "transfer.lr_factor", math.nan, "transfer.lr_factor=nan is not a finite number"),
        ("generate", gen, "temperature", math.inf, "temperature=inf is not a finite number"),
        ("predict", pred, "batch_size", 0, "batch_size=0 is out of range; it must be >= 1"),
    ]:
        case = copy.deepcopy(cfg)
        _assign(case, key, value)
        with pytest.raises(ConfigError) as exc:
            _validate(command, case)
        assert phrase in str(exc.value)


@pytest.mark.slow  # the baselines take half a minute to compose on a loaded machine
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_any_value_is_a_clear_error_or_inside_the_rule(baselines, data):
    """Hypothesis: any key of any baseline, any number or text; accepted only when the key's rule admits it."""
    command, _, cfg = baselines[data.draw(st.integers(0, len(baselines) - 1), label="baseline")]
    keys = [k for k, v in leaves(cfg) if not isinstance(v, bool)]
    key = data.draw(st.sampled_from(keys), label="key")
    value = data.draw(
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(min_value=-(2**70), max_value=2**70),
            st.text(max_size=5),
            st.none(),
        )
    )
    stored: list = []
    outcome = attempt(command, cfg, key, value, stored)
    if outcome == "accepted":  # only a value its rule admits (a number: finite, and not past 2**31 as a count)
        held = stored[0]
        assert leaf_problem(key, held, cfg) is None
        if isinstance(held, float):
            assert math.isfinite(held)
        if isinstance(held, int) and not isinstance(held, bool):
            assert held <= HUGE


def test_label_names_can_be_set_on_the_command_line(roots):
    """The documented mapping composes from an override (it was an OmegaConf traceback) and keeps the file's keys."""
    with initialize_config_module(config_module="seqtune.conf", version_base="1.3"):
        cfg = compose(
            config_name="finetune", overrides=["dataset=ag_news", "dataset.label_names={1: W, 2: S, 3: B, 4: T}"]
        )
    assert {str(k): v for k, v in cfg.dataset.label_names.items()} == {"1": "W", "2": "S", "3": "B", "4": "T"}
    assert value_problems(cfg, skip=("head",)) == []
