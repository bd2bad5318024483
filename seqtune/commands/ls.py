"""``seqtune ls [group]``: what can be chosen, without reading YAML files by hand.

``seqtune ls`` lists every config group and its options with a one-line description (the first comment line
of each option's YAML file); ``seqtune ls model`` shows each option's own settings side by side.  It reads the
configs shipped in the package (``seqtune.conf``), so it shows exactly what the commands compose.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table

from seqtune.errors import ConfigError


def _conf_root() -> Traversable:
    return files("seqtune.conf")


def _description(text: str) -> str:
    """The first sentence of the YAML's leading comment block (which may span lines)."""
    words: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("#"):
            break
        if "@package" not in stripped:
            words.append(stripped.lstrip("#").strip())
    comment = " ".join(words)
    end = comment.find(". ")
    return comment if end < 0 else comment[: end + 1]


def groups() -> dict[str, dict[str, str]]:
    """group -> option -> one-line description, for every group folder under conf/ (nested ones such as
    ``hydra/launcher`` by their path)."""
    out: dict[str, dict[str, str]] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for sub in sorted(folder.iterdir(), key=lambda p: p.name):
            if not sub.is_dir() or sub.name.startswith("_"):
                continue
            options = {
                f.name[:-5]: _description(f.read_text(encoding="utf-8"))
                for f in sorted(sub.iterdir(), key=lambda p: p.name)
                if f.name.endswith(".yaml")
            }
            if options:
                out[prefix + sub.name] = options
            walk(sub, f"{prefix}{sub.name}/")

    walk(_conf_root(), "")
    return out


def _flatten(node: DictConfig, prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in node.items():
        if key == "defaults":
            continue
        if isinstance(value, DictConfig):
            flat.update(_flatten(value, f"{prefix}{key!s}."))
        else:
            flat[f"{prefix}{key!s}"] = str(value)
    return flat


def settings(group: str) -> dict[str, dict[str, str]]:
    """option -> its own flattened keys (what the YAML sets; schema defaults are not repeated)."""
    known = groups()
    if group not in known:
        raise ConfigError(f"unknown config group {group!r}; groups are: {', '.join(known)}. Try `seqtune ls`.")
    folder = _conf_root().joinpath(*group.split("/"))
    return {
        opt: _flatten(OmegaConf.create((folder / f"{opt}.yaml").read_text(encoding="utf-8")) or OmegaConf.create())
        for opt in known[group]
    }


def ls(args: list[str], console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    if not args:
        table = Table(title="seqtune config groups (choose with group=option)", show_lines=False)
        table.add_column("group", style="bold")
        table.add_column("option")
        table.add_column("description")
        for group, options in groups().items():
            for i, (opt, desc) in enumerate(options.items()):
                table.add_row(group if i == 0 else "", opt, desc)
        console.print(table)
        console.print(
            "`seqtune ls <group>` shows each option's settings; `seqtune <command> --help` the full default config."
        )
        return
    group = args[0]
    per_option = settings(group)
    keys = sorted({k for flat in per_option.values() for k in flat})
    table = Table(title=f"options of group '{group}' (settings each option's YAML sets)")
    table.add_column("key", style="bold")
    for opt in per_option:
        table.add_column(opt)
    for key in keys:
        table.add_row(key, *(per_option[opt].get(key, "") for opt in per_option))
    console.print(table)
