"""``seqtune ls [group [option]]`` and ``seqtune cp``: what can be chosen, without reading YAML files by hand.

``seqtune ls`` lists every config group and its options with a one-line description (the first comment line
of each option's YAML file); ``seqtune ls model`` shows each option's own settings side by side;
``seqtune ls dataset table`` every key of one option with its value and meaning (the YAML's comment, else the
schema's).  It reads the configs shipped in the package (``seqtune.conf``), so it shows exactly what the
commands compose; ``--config-dir DIR`` (as for the commands) adds the options of DIR, which win on a name clash.

``seqtune cp <group>/<option> <path>`` (or a root: ``seqtune cp pretrain my.yaml``) copies a shipped config out
of the package for editing; use the copy with ``--config-dir``.  Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
import typing
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqtune.config.options import Extra as _Extra
from seqtune.config.options import conf_root as _conf_root
from seqtune.config.options import groups
from seqtune.config.options import roots as _roots
from seqtune.errors import ConfigError


def _flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """Plain containers (read unresolved: an interpolation such as ${trainer.seed} is shown, not resolved)."""
    flat: dict[str, str] = {}
    for key, value in node.items():
        if key == "defaults":
            continue
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key!s}."))
        else:
            flat[f"{prefix}{key!s}"] = "null" if value is None else str(value)
    return flat


def _option_file(group: str, option: str) -> Any:
    for root in reversed(_roots()):
        candidate = root.joinpath(*group.split("/"), f"{option}.yaml")
        if candidate.is_file():
            return candidate
    raise ConfigError(f"no option {option!r} in group {group!r}; options are: {', '.join(groups()[group])}.")


def _read(file: Any) -> dict[str, Any]:
    text = file.read_text(encoding="utf-8")
    return OmegaConf.to_container(OmegaConf.create(text), resolve=False) or {}  # type: ignore[return-value]


def settings(group: str) -> dict[str, dict[str, str]]:
    """option -> its own flattened keys (what the YAML sets; schema defaults are not repeated)."""
    known = groups()
    if group not in known:
        raise ConfigError(f"unknown config group {group!r}; groups are: {', '.join(known)}. Try `seqtune ls`.")
    return {opt: _flatten(_read(_option_file(group, opt))) for opt in known[group]}


# ------------------------------------------------------------------------------------------ meanings
_COMMENTED = re.compile(r"^(?P<key>[A-Za-z_][\w]*)\s*:[^#]*#\s*(?P<text>.+)$")


def _yaml_comments(text: str) -> dict[str, str]:
    """Top-level key -> its inline comment."""
    out = {}
    for line in text.splitlines():
        m = _COMMENTED.match(line)
        if m:
            out[m["key"]] = m["text"].strip()
    return out


def _schema_comments(schema: type) -> dict[str, str]:
    """Field -> the inline comment beside it in config/schema.py (base classes first, subclasses win)."""
    out: dict[str, str] = {}
    for klass in reversed(schema.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        for line in inspect.getsource(klass).splitlines():
            m = _COMMENTED.match(line.strip())
            if m:
                out[m["key"]] = m["text"].strip()
    return out


def _schema_of(data: dict[str, Any], group: str) -> type | None:
    """The schema a YAML option extends (``/schema/<group>/<name>@_here_`` in its defaults)."""
    from seqtune.config import schema

    for entry in data.get("defaults") or []:
        m = re.match(r"/schema/(\w+)/(\w+)@_here_", str(entry))
        if m and m[1] == "dataset":
            return schema.DATASET_SCHEMAS.get(m[2])
        if m:
            return {
                "model": schema.ModelConfig,
                "optimizer": schema.OptimizerConfig,
                "transfer": schema.TransferConfig,
            }.get(m[1])
    return None


def _schema_defaults(klass: type, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    hints = typing.get_type_hints(klass)
    for f in dataclasses.fields(klass):
        kind = hints.get(f.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            out.update(_schema_defaults(kind, f"{prefix}{f.name}."))
            continue
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            value = "???"
        out[prefix + f.name] = "null" if value is None else str(getattr(value, "value", value))
    return out


def option_keys(group: str, option: str) -> list[tuple[str, str, str]]:
    """(key, value, meaning) of every key the option composes to: its YAML's and its schema's."""
    file = _option_file(group, option)
    text = file.read_text(encoding="utf-8")
    data = _read(file)
    klass = _schema_of(data, group)
    values = {**(_schema_defaults(klass) if klass else {}), **_flatten(data)}
    meanings = {**(_schema_comments(klass) if klass else {}), **_yaml_comments(text)}
    if klass is not None:
        for f in dataclasses.fields(klass):  # nested schemas: tokenizer.kind ...
            kind = typing.get_type_hints(klass).get(f.name)
            if isinstance(kind, type) and dataclasses.is_dataclass(kind):
                meanings.update({f"{f.name}.{k}": v for k, v in _schema_comments(kind).items()})
    return [(k, v, meanings.get(k, "")) for k, v in values.items()]


def _option_table(console: Console, group: str, option: str) -> None:
    table = Table(title=f"{group}={option}: every key (set with {group}.<key>=...)")
    table.add_column("key", style="bold")
    table.add_column("value")
    table.add_column("meaning")
    for key, value, meaning in option_keys(group, option):
        table.add_row(escape(key), escape(value), escape(meaning))
    console.print(table)


def _parse(args: list[str]) -> list[str]:
    """Take ``--config-dir DIR`` (or ``--config-dir=DIR``, ``-cd DIR``) out of ``args``."""
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in ("--config-dir", "-cd"):
            folder = next(it, None)
            if folder is None:
                raise ConfigError(f"{arg} needs a folder: seqtune ls --config-dir my_configs")
            _Extra.folder = Path(folder)
        elif arg.startswith("--config-dir="):
            _Extra.folder = Path(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    if _Extra.folder is not None and not _Extra.folder.is_dir():
        raise ConfigError(f"--config-dir={_Extra.folder}: no such folder.")
    return rest


def ls(args: list[str], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    _Extra.folder = None
    args = _parse(args)
    if not args:
        table = Table(title="seqtune config groups (choose with group=option)", show_lines=False)
        table.add_column("group", style="bold")
        table.add_column("option")
        table.add_column("description")
        for group, options in groups().items():
            for i, (opt, desc) in enumerate(options.items()):
                table.add_row(group if i == 0 else "", escape(opt), escape(desc))
        console.print(table)
        console.print(
            escape(
                "`seqtune ls <group>` shows each option's settings, `seqtune ls <group> <option>` every key with "
                "its meaning; `seqtune <command> --help` the full default config."
            )
        )
        return
    group = args[0]
    per_option = settings(group)
    if len(args) > 1:
        _option_table(console, group, args[1])
        return
    if len(per_option) > 3:  # side by side would not fit 80 columns: one row per option
        table = Table(title=f"options of group '{group}' (`seqtune ls {group} <option>`: every key and its meaning)")
        table.add_column("option", style="bold")
        table.add_column("settings its YAML makes")
        for opt, flat in per_option.items():
            table.add_row(escape(opt), escape(", ".join(f"{k}={v}" for k, v in flat.items())))
        console.print(table)
        return
    keys = sorted({k for flat in per_option.values() for k in flat})
    table = Table(title=f"options of group '{group}' (settings each option's YAML sets)")
    table.add_column("key", style="bold")
    for opt in per_option:
        table.add_column(escape(opt))
    for key in keys:
        table.add_row(escape(key), *(escape(per_option[opt].get(key, "")) for opt in per_option))
    console.print(table)


# ----------------------------------------------------------------------------------------------- cp
def cp(args: list[str]) -> None:
    """``seqtune cp <group>/<option> <path>``, or a root config (``pretrain``...): the shipped YAML, copied."""
    args = _parse(args)
    if len(args) != 2:
        raise ConfigError(
            "usage: seqtune cp <group>/<option> <path>, e.g. `seqtune cp dataset/table my_configs/dataset/mydata.yaml`"
            " then `seqtune finetune --config-dir my_configs dataset=mydata` (a root: `seqtune cp pretrain my.yaml`)."
        )
    name, target = args[0].removesuffix(".yaml"), Path(args[1])
    source = _source(name)
    if target.is_dir() or args[1].endswith("/"):
        target = target / f"{name.rsplit('/', 1)[-1]}.yaml"
    if target.exists():
        raise ConfigError(f"{target} exists; seqtune cp never overwrites a file. Choose another path or remove it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    group = name.rsplit("/", 1)[0] if "/" in name else None
    use = (
        f"seqtune <command> --config-dir {target.parent.parent} {group}={target.stem}"
        if group and target.parent.name == group.rsplit("/", 1)[-1]
        else f"put it in <dir>/{group}/ and run seqtune <command> --config-dir <dir> {group}={target.stem}"
        if group
        else f"seqtune {name} --config-dir {target.parent} --config-name {target.stem}"
    )
    print(f"copied {name} to {target}; use it with: {use}")


def _source(name: str) -> Any:
    parts = name.split("/")
    if len(parts) == 1:
        candidate = _conf_root() / f"{name}.yaml"
        if candidate.is_file():
            return candidate
        raise ConfigError(
            f"no config {name!r}: give a root (pretrain, finetune, evaluate, predict, generate) or "
            f"<group>/<option>, e.g. dataset/table; `seqtune ls` lists them."
        )
    group, option = "/".join(parts[:-1]), parts[-1]
    if group not in groups():
        raise ConfigError(f"unknown config group {group!r}; groups are: {', '.join(groups())}. Try `seqtune ls`.")
    return _option_file(group, option)


# ------------------------------------------------------------------------------------- command --help
def command_help(command: str, description: str) -> str:
    """``seqtune <command> --help``: its groups and options and its root config with comments, read from the
    files (Hydra's own help composes the config once per option: seconds; this answers at once).
    ``--hydra-help`` still gives Hydra's."""
    root = _conf_root() / f"{command}.yaml"
    text = root.read_text(encoding="utf-8")
    chosen = _root_groups(text)
    known = groups()
    width = max((len(g) for g in chosen), default=0)
    lines = [
        f"seqtune {command}: {description}",
        "",
        f"usage: seqtune {command} [group=option ...] [key=value ...] [+key=value] [hydra flags]",
        "",
        "config groups (group=option; `seqtune ls <group> <option>` shows every key and its meaning):",
    ]
    for group, default in chosen.items():
        options = ", ".join(
            f"{o}*" if o == default else o for o in known.get(group, {}) if not group.startswith("hydra")
        )
        lines += textwrap.wrap(options, 78, initial_indent=f"  {group:<{width}}  ", subsequent_indent=" " * (width + 4))
    lines += [
        "  (* the default)",
        "",
        f"the root config (conf/{command}.yaml; `seqtune {command} --cfg job` prints it composed):",
        "",
        *("  " + line for line in text.rstrip().splitlines()),
        "",
        "Hydra flags: --cfg job|hydra|all, --info, -m (sweep), --config-dir DIR, --hydra-help; copy a config "
        "for editing with `seqtune cp <group>/<option> <path>`.",
    ]
    return "\n".join(lines)


def _root_groups(text: str) -> dict[str, str | None]:
    """group -> default option, from the root YAML's defaults list (``optional`` groups default to none)."""
    data = OmegaConf.to_container(OmegaConf.create(text), resolve=False) or {}
    out: dict[str, str | None] = {}
    for entry in data.get("defaults", []):  # type: ignore[union-attr]
        if isinstance(entry, dict):
            for key, value in entry.items():
                group = str(key).removeprefix("optional ").removeprefix("override ").lstrip("/")
                if not group.startswith("hydra"):
                    out[group] = None if value is None else str(value)
    return out
