"""`crmpipe init DIR`: guess a starting `crmpipe.yml` from the CSV files in a folder.

Each file is sniffed (crmpipe.ingest.sniff), files with the same columns and a shared name stem
become one source, a sample of each source's values is read and guessed from
(crmpipe.init.mapping), and the commented project file is written (crmpipe.init.yaml) after it
validates. The result is meant to be reviewed: it says how each guess was made, and writes
nothing it can't support from the files.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from crmpipe.config.load import DEFAULT_FILE, ConfigError, parse_config
from crmpipe.config.schema import Config
from crmpipe.ingest.sniff import Dialect, SniffError, read_records, sniff
from crmpipe.init.mapping import FileGuess, guess_file
from crmpipe.init.synonyms import unique_name
from crmpipe.init.yaml import render

#: File name patterns looked at (`.txt` only when the sniffer finds a delimiter in it).
PATTERNS: tuple[str, ...] = ("*.csv", "*.tsv", "*.txt")

#: Records read per file to guess from values.
SAMPLE_RECORDS = 1000


class InitError(ConfigError):
    """A problem that stops `crmpipe init`, as one line saying what to do.

    A ConfigError, so every command's one-line error reporting already knows it.
    """


@dataclass
class InitResult:
    """The written project file (validated), its text and where it went, plus every guess."""

    config: Config
    text: str
    path: Path
    guesses: list[FileGuess]


def _discover(folder: Path) -> list[Path]:
    seen: dict[Path, None] = {}
    for p in sorted(folder.iterdir()):
        if (
            p.is_file()
            and not p.name.startswith(".")
            and any(p.name.lower().endswith(pat[1:]) for pat in PATTERNS)
        ):
            seen[p] = None
    return list(seen)


def _sniff_and_group(
    folder: Path, files: list[Path]
) -> list[tuple[list[Path], str | None, Dialect | None, str]]:
    """Sniff every file; files with the same header and dialect whose names share a stem
    (`contacts_2024_01.csv`, `contacts_2024_02.csv`) become one group with a glob, so files
    added later are picked up by the same source.

    Returns (files, glob or None, dialect or None, sniff error) per group, in file order.
    """
    sniffed: list[tuple[Path, Dialect | None, str]] = []
    for p in files:
        try:
            sniffed.append((p, sniff(p), ""))
        except SniffError as exc:
            sniffed.append((p, None, str(exc)))
    by_layout: dict[tuple[object, ...], list[Path]] = defaultdict(list)
    for p, d, _ in sniffed:
        if d is not None:
            key = (tuple(d.header), d.delimiter, d.quote, d.escape, d.encoding, p.suffix.lower())
            by_layout[key].append(p)
    everything = [p.name for p in folder.iterdir() if p.is_file()]
    pattern_of: dict[Path, tuple[list[Path], str]] = {}
    for group in by_layout.values():
        pattern = _glob_for(group, everything) if len(group) > 1 else None
        if pattern:
            for p in group:
                pattern_of[p] = (group, pattern)
    out: list[tuple[list[Path], str | None, Dialect | None, str]] = []
    done: set[Path] = set()
    for p, d, err in sniffed:
        if p in done:
            continue
        if p in pattern_of:
            group, pattern = pattern_of[p]
            done.update(group)
            out.append((group, pattern, d, err))
        else:
            out.append(([p], None, d, err))
    return out


def _glob_for(group: list[Path], names_in_folder: list[str]) -> str | None:
    """`contacts_*.csv` for files sharing a name stem, if it matches exactly those files."""
    names = [p.name for p in group]
    prefix = os.path.commonprefix(names)
    suffix = os.path.commonprefix([n[::-1] for n in names])[::-1]
    shortest = min(len(n) for n in names)
    if len(prefix) + len(suffix) > shortest:
        suffix = suffix[len(prefix) + len(suffix) - shortest :]
    # Cut the prefix back to its words so later files match too: `contacts_2024_0` would miss
    # `contacts_2025_01.csv`; `contacts_` doesn't.
    words = re.match(r"^(.*[A-Za-z])([^A-Za-z]*)$", prefix)
    if words:
        prefix = words.group(1) + (words.group(2)[:1] if words.group(2)[:1] in "_-. " else "")
    if not re.search(r"[A-Za-z]", prefix) or re.search(r"[*?\[\]]", prefix + suffix):
        return None
    pattern = f"{prefix}*{suffix}"
    matched = {n for n in names_in_folder if fnmatch.fnmatchcase(n, pattern)}
    return pattern if matched == set(names) else None


def _pattern_stem(pattern: str) -> str:
    """`contacts_*.csv` → `contacts`: the source name for a group of files."""
    return re.sub(r"[\W_]+$", "", pattern.split("*")[0]) or pattern.split("*")[0]


def _unify_extension_types(guesses: list[FileGuess]) -> None:
    """One extension column has one type per table: widen conflicting guesses, say so."""
    types: dict[tuple[str, str], set[str]] = defaultdict(set)
    for g in guesses:
        for spec in g.extra.values():
            ext, kind = spec.split(": ")
            types[(g.table or "", ext)].add(kind)
    for g in guesses:
        for header, spec in list(g.extra.items()):
            ext, kind = spec.split(": ")
            kinds = types[(g.table or "", ext)]
            if len(kinds) < 2:
                continue
            wide = (
                "double" if kinds <= {"bigint", "double"}
                else "timestamp" if kinds <= {"date", "timestamp"}
                else "text"
            )  # fmt: skip
            if wide != kind:
                g.extra[header] = f"{ext}: {wide}"
                others = ", ".join(sorted(kinds - {kind}))
                g.notes.append(
                    f"{ext} widened from {kind} to {wide}: other {g.table} sources hold {others}"
                )


def init(folder: Path, *, output: Path | None = None, force: bool = False) -> InitResult:
    """Guess a crmpipe.yml for the CSV files in `folder`, write it, and return what was guessed.

    The file goes to `output` (default `folder/crmpipe.yml`); an existing file is kept unless
    `force`. The written text is validated with `parse_config` before it is written.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InitError(f"{folder}: no such folder")
    out = Path(output) if output else folder / DEFAULT_FILE
    if out.is_dir():
        out = out / DEFAULT_FILE
    out = out.resolve()
    if out.exists() and not force:
        raise InitError(f"{out}: already exists; pass --force to overwrite it, or --output PATH")
    files = _discover(folder)
    if not files:
        raise InitError(f"{folder}: no {', '.join(PATTERNS)} files to look at")

    guesses: list[FileGuess] = []
    names: set[str] = set()
    for group, pattern, dialect, error in _sniff_and_group(folder, files):
        first = group[0]
        stem = _pattern_stem(pattern) if pattern else first.stem
        source = unique_name(stem, "source", "s_", names)
        if dialect is None:
            guesses.append(FileGuess(first, source, None, 0.0, notes=[f"not mapped: {error}"]))
            continue
        if first.suffix.lower() == ".txt" and len([h for h in dialect.header if h]) < 2:
            note = "not mapped: a .txt file with a single column (no delimiter found)"
            guesses.append(FileGuess(first, source, None, 0.0, notes=[note], dialect=dialect))
            continue
        per_file = max(100, SAMPLE_RECORDS // len(group))
        records = [r for f in group for r in read_records(f, dialect, limit=per_file)]
        guess = guess_file(first, source, dialect, records[:SAMPLE_RECORDS])
        if pattern:
            guess.files, guess.pattern = list(group), pattern
            guess.notes.insert(
                1,
                f"{len(group)} files with the same columns ({', '.join(f.name for f in group)}) "
                f"are one source: path {pattern}",
            )
        guesses.append(guess)
    _unify_extension_types(guesses)

    text = render(guesses, out.parent)
    config = parse_config(text, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return InitResult(config=config, text=text, path=out, guesses=guesses)
