"""The config groups and options shipped in the package (``seqtune.conf``) and a user's ``--config-dir``, read
from the files (no Hydra compose, no torch): what ``seqtune ls``, ``<command> --help`` and shell completion list."""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any


class Extra:
    """The user's ``--config-dir`` (None: the shipped configs only)."""

    folder: Path | None = None


def conf_root() -> Traversable:
    return files("seqtune.conf")


def roots() -> list[Any]:
    """Where options are looked up, later ones winning: the package, then ``--config-dir``."""
    return [conf_root()] + ([Extra.folder] if Extra.folder is not None else [])


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
                out.setdefault(prefix + sub.name, {}).update(options)
            walk(sub, f"{prefix}{sub.name}/")

    for root in roots():
        walk(root, "")
    return out
