"""The project file `crmpipe init` writes: one commented block per guessed source, the files
it could not map, and the search aliases; every scalar written so that it reads back the same.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import yaml

from crmpipe.init.mapping import FileGuess
from crmpipe.model import TABLES

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_ .\-/()]*")


def _scalar(value: object) -> str:
    """A YAML scalar: plain when that reads back the same, else a JSON (double-quoted) string."""
    if isinstance(value, str):
        if (
            _PLAIN.fullmatch(value)
            and value == value.strip()
            and ": " not in value
            and yaml.safe_load(f"k: {value}") == {"k": value}
        ):
            return value
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value)


def _comment(text: str, prefix: str = "# ", width: int = 98) -> list[str]:
    """`text` as comment lines (wrapped; a newline in a header can't end the comment early)."""
    return textwrap.wrap(
        " ".join(text.split()),
        width=width,
        initial_indent=prefix,
        subsequent_indent=prefix + "  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _source_yaml(name: str, spec: dict[str, object], notes: list[str]) -> list[str]:
    lines = [line for n in notes for line in _comment(n, "  # ")]
    lines.append(f"  {_scalar(name)}:")
    for key, val in spec.items():
        if key == "feeds" and isinstance(val, dict):
            lines.append("    feeds:")
            for table, mapping in val.items():
                lines += [f"      {table}:", "        columns:"]
                extra = mapping.pop("extra", None) if isinstance(mapping, dict) else None
                lines += [f"          {_scalar(c)}: {_scalar(h)}" for c, h in mapping.items()]
                if extra:  # a CRM's company id as the entity's `<system>_ids` (id)
                    lines.append("        extra:")
                    lines += [f"          {_scalar(n)}: {{type: id, column: {_scalar(h)}}}"
                              for n, h in extra.items()]  # fmt: skip
        elif isinstance(val, dict):
            if not val:
                continue
            lines.append(f"    {key}:")
            for k, v in val.items():
                if isinstance(v, dict):
                    inner = ", ".join(f"{a}: {_scalar(b)}" for a, b in v.items())
                    lines.append(f"      {_scalar(k)}: {{{inner}}}")
                else:
                    lines.append(f"      {_scalar(k)}: {_scalar(v)}")
        else:
            lines.append(f"    {key}: {_scalar(val)}")
    return lines


def source_spec(guess: FileGuess, base: Path) -> dict[str, object]:
    """The `sources.<name>` mapping for a guessed file (path relative to `base`)."""
    assert guess.table is not None
    target = guess.file.parent / guess.pattern if guess.pattern else guess.file
    rel = Path(os.path.relpath(target.resolve(), base.resolve())).as_posix()
    spec: dict[str, object] = {"path": rel, "table": guess.table}
    if guess.drops:
        spec["drops"] = guess.drops
    if guess.processor:
        spec["processor"] = guess.processor
    if guess.constants:
        spec["constants"] = dict(guess.constants)
    spec["columns"] = dict(guess.columns)
    extra: dict[str, object] = {}
    for header, item in guess.extra.items():
        name, kind = item.split(": ")
        extra[name] = kind if name == header else {"type": kind, "column": header}
    spec["extra"] = extra
    if guess.feeds:
        spec["feeds"] = {t: dict(cols) for t, cols in guess.feeds.items()}
        for t, extra in guess.feed_extra.items():
            spec["feeds"][t]["extra"] = dict(extra)  # type: ignore[index]
    if guess.dialect is not None:
        fmt = guess.dialect.format_spec().model_dump(exclude_defaults=True)
        if fmt:
            spec["format"] = fmt
    return spec


def render(guesses: list[FileGuess], base: Path) -> str:
    """The project file text: a review header, one commented block per source, search aliases."""
    lines = [
        "# crmpipe.yml — guessed by `crmpipe init` from the files in this folder.",
        "# Review it before the first run: check each source's table and column mapping, and the",
        "# types of the extension columns under 'extra' (source fields kept as they are).",
        "# The comments above each source say how its guesses were made.",
        "",
        "warehouse: .crmpipe/warehouse.duckdb",
        "",
        "sources:",
    ]
    mapped = [g for g in guesses if g.table]
    for g in mapped:
        spec = source_spec(g, base)
        lines += _source_yaml(g.source, spec, [f"{g.file.name} → {g.notes[0]}", *g.notes[1:]])
        lines.append("")
    if not mapped:
        lines[-1] = "sources: {}"
    skipped = [g for g in guesses if not g.table]
    if skipped:
        lines.append("# Files not mapped (no table could be guessed). To load one, add a source")
        lines += _comment(f"by hand: path, table (one of {', '.join(TABLES)}), columns "
                          "{canonical column: header}.")  # fmt: skip
        for g in skipped:
            rel = Path(os.path.relpath(g.file.resolve(), base.resolve())).as_posix()
            for n in g.notes:
                lines += _comment(f"{rel}: {n}", "#   ")
        lines.append("")
    aliases: dict[str, str] = {"email": "emails", "tech": "tech_names", "created": "created_at"}
    exts = {item.split(": ")[0] for g in mapped for item in g.extra.values()}
    if "pop_estimate_2022" in exts:
        aliases["pop"] = "pop_estimate_2022"
    lines += ["search:", "  aliases:"] + [f"    {k}: {v}" for k, v in aliases.items()]
    return "\n".join(lines) + "\n"
