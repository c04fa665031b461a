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
from crmpipe.ingest.drops import drop_date
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

    @property
    def warnings(self) -> list[str]:
        """`file: warning` for every file skipped (its header fits no table, or unreadable)."""
        return [f"{g.file.name}: {w}" for g in self.guesses for w in g.warnings]


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


@dataclass
class _Group:
    """Files read as one source: one file, files with the same columns under a glob, or the
    dated drops of one list (newest first)."""

    files: list[Path]
    pattern: str | None = None
    dialect: Dialect | None = None
    error: str = ""
    dated: bool = False


def _sniff_and_group(folder: Path, files: list[Path]) -> list[_Group]:
    """Sniff every file, then group: files whose names differ only by a date
    (`source_1_20241101.csv`, `07-07-2023 Texas DHHS.csv`) are dated drops of one list; files
    with the same header and dialect whose names share a stem (`contacts_2024_01.csv`,
    `contacts_2024_02.csv`) are one source too. Either gets a glob, so files added later are
    picked up by the same source. Groups come in file order.
    """
    sniffed: list[tuple[Path, Dialect | None, str]] = []
    for p in files:
        try:
            sniffed.append((p, sniff(p), ""))
        except SniffError as exc:
            sniffed.append((p, None, str(exc)))
    everything = [p.name for p in folder.iterdir() if p.is_file()]
    group_of: dict[Path, _Group] = {}
    for group in _dated_groups(sniffed, everything):
        group_of.update((p, group) for p in group.files)
    by_layout: dict[tuple[object, ...], list[tuple[Path, Dialect]]] = defaultdict(list)
    for p, d, _ in sniffed:
        if d is not None and p not in group_of:
            key = (tuple(d.header), d.delimiter, d.quote, d.escape, d.encoding, p.suffix.lower())
            by_layout[key].append((p, d))
    for members in by_layout.values():
        paths = [p for p, _ in members]
        pattern = _glob_for(paths, everything) if len(paths) > 1 else None
        if pattern:
            group = _Group(paths, pattern, members[0][1])
            group_of.update((p, group) for p in paths)
    out: list[_Group] = []
    for p, d, err in sniffed:
        group = group_of.get(p)
        if group is None:
            out.append(_Group([p], None, d, err))
        elif all(group is not g for g in out):
            out.append(group)
    return out


def _date_span(name: str) -> tuple[int, int] | None:
    """Where the date `drop_date` reads in a file name is (the shortest digits-bounded span)."""
    found = drop_date(name)
    if found is None:
        return None
    stem = Path(name).stem
    spans = [
        (start, end)
        for start in range(len(stem))
        for end in range(start + 6, len(stem) + 1)
        if stem[start].isdigit()
        and stem[end - 1].isdigit()
        and (start == 0 or not stem[start - 1].isdigit())
        and (end == len(stem) or not stem[end].isdigit())
        and drop_date(stem[start:end]) == found
    ]
    return min(spans, key=lambda se: (se[1] - se[0], se[0])) if spans else None


def undated(name: str) -> tuple[str, str] | None:
    """A dated file name's glob and its name without the date:
    `source_1_20241101.csv` → (`source_1_*.csv`, `source 1`),
    `07-07-2023 Texas DHHS.csv` → (`*Texas DHHS.csv`, `Texas DHHS`); None without a date, or
    when nothing but the date names the file."""
    span = _date_span(name)
    if span is None:
        return None
    path = Path(name)
    stem, suffix = path.stem, path.name[len(path.stem) :]
    before, after = stem[: span[0]], stem[span[1] :]
    if not before:
        after = after.lstrip(" _-.")
        pattern = f"*{after}{suffix}"
    else:
        pattern = f"{before}*{after}{suffix}"
    rest = re.sub(r"[\W_]+", " ", f"{before} {after}").strip()
    if not re.search(r"[A-Za-z]", rest) or re.search(r"[*?\[\]]", before + after):
        return None
    return pattern, rest


def _dated_groups(
    sniffed: list[tuple[Path, Dialect | None, str]], names_in_folder: list[str]
) -> list[_Group]:
    """Dated drops of one list: files read alike whose names differ only by a date, newest
    first, with a glob matching exactly them."""
    by_name: dict[tuple[object, ...], list[tuple[Path, Dialect]]] = defaultdict(list)
    for p, d, _ in sniffed:
        found = undated(p.name)
        if d is not None and found is not None:
            by_name[(found[0], d.delimiter, d.quote, d.escape, d.encoding)].append((p, d))
    groups: list[_Group] = []
    for (pattern, *_), members in by_name.items():
        assert isinstance(pattern, str)
        matched = {n for n in names_in_folder if fnmatch.fnmatchcase(n, pattern)}
        if matched != {p.name for p, _ in members}:
            continue  # the glob would pick up other files: leave these to the other rules
        members.sort(key=lambda pd: (drop_date(pd[0].name), pd[0].stat().st_mtime), reverse=True)
        groups.append(_Group([p for p, _ in members], pattern, members[0][1], dated=True))
    return groups


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


def _guess_group(group: _Group, names: set[str]) -> FileGuess:
    """The guess for one group of files: its source name, table, mapping and how it was read."""
    first, pattern, dialect = group.files[0], group.pattern, group.dialect
    if group.dated:
        stem = undated(first.name)[1]  # type: ignore[index]
    else:
        stem = _pattern_stem(pattern) if pattern else first.stem
    source = unique_name(stem, "source", "s_", names)
    if dialect is None:
        note = f"warning: not mapped, skipped: {group.error}"
        return FileGuess(first, source, None, 0.0, notes=[note])
    if first.suffix.lower() == ".txt" and len([h for h in dialect.header if h]) < 2:
        note = "warning: not mapped, skipped: a .txt file with a single column (no delimiter)"
        return FileGuess(first, source, None, 0.0, notes=[note], dialect=dialect)
    # Dated drops: the newest file's header is the mapping; older drops with another header
    # aren't sampled (the run records their schema drift).
    alike = [f for f in group.files if f == first or _header(f) == dialect.header]
    per_file = max(100, SAMPLE_RECORDS // len(alike))
    records = [r for f in alike for r in read_records(f, dialect, limit=per_file)]
    guess = guess_file(first, source, dialect, records[:SAMPLE_RECORDS])
    if pattern and guess.table:
        guess.files, guess.pattern = list(group.files), pattern
        names_list = ", ".join(f.name for f in group.files)
        if group.dated:
            guess.drops = "newest"
            what = (
                f"{len(group.files)} dated drops of one list ({names_list})"
                if len(group.files) > 1
                else f"its name carries a date ({drop_date(first.name)})"
            )
            note = (
                f"{what}: path {pattern} with drops: newest — the newest drop feeds the "
                "product, older ones stay in raw as history"
            )
            if len(alike) < len(group.files):
                note += "; older drops have other headers: the mapping follows the newest"
        else:
            note = f"{len(group.files)} files with the same columns ({names_list}) "
            note += f"are one source: path {pattern}"
        guess.notes.insert(1, note)
    return guess


def _header(path: Path) -> list[str] | None:
    try:
        return sniff(path).header
    except SniffError:
        return None


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
    for group in _sniff_and_group(folder, files):
        guesses.append(_guess_group(group, names))
    _unify_extension_types(guesses)

    text = render(guesses, out.parent)
    config = parse_config(text, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return InitResult(config=config, text=text, path=out, guesses=guesses)
