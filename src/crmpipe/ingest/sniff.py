"""A CSV file's dialect (delimiter, quoting, encoding, header), decided on a clean sample.

DuckDB's own sniffer can be fooled by one malformed line (NOTES.md), so the loader passes the
dialect explicitly; this module decides it once, from the first megabyte only (files can be
hundreds of MB), with rules that a few bad lines cannot tip over.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crmpipe.config.schema import FormatSpec
from crmpipe.errors import CrmpipeError

#: Delimiters tried, in order of preference when two explain the sample equally well.
DELIMITERS: tuple[str, ...] = (",", "\t", ";", "|")

#: "A handful per MB": more invalid UTF-8 sequences than this per MB of sample means Latin-1.
MAX_BAD_UTF8_PER_MB = 5

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class SniffError(CrmpipeError):
    """A file whose dialect can't be decided, as one line naming the file and what to do."""


@dataclass(frozen=True)
class Dialect:
    """How one CSV file is written: everything DuckDB's `read_csv` needs to be told."""

    delimiter: str  # one of , ; | \t (or whatever the overrides said)
    quote: str  # usually '"'
    escape: str  # usually '"' (doubled quotes)
    encoding: str  # 'utf-8', 'latin-1' or 'utf-16' (DuckDB read_csv encodings)
    has_bom: bool
    newline: str  # '\n' or '\r\n'
    header: list[str] = field(default_factory=list)  # names as in the file, BOM and spaces trimmed
    has_header: bool = True  # False only when overridden: `header` is then column0, column1, ...

    def read_csv_options(self) -> dict[str, str | bool]:
        """Named options for DuckDB's SQL `read_csv(...)` that pin this dialect (no sniffing).

        Use as `read_csv(?, delimiter := ?, quote := ?, ...)` with the values as parameters.
        The newline is left to DuckDB, which accepts both endings in one file; forcing it would
        reject files whose line endings are mixed.
        """
        return {
            "delimiter": self.delimiter,
            "quote": self.quote,
            "escape": self.escape,
            "encoding": self.encoding,
            "header": self.has_header,
        }

    def python_read_csv_kwargs(self) -> dict[str, str | bool]:
        """The same options spelled for the Python API, `duckdb.read_csv(path, **kwargs)`."""
        return {
            "delimiter": self.delimiter,
            "quotechar": self.quote,
            "escapechar": self.escape,
            "encoding": self.encoding,
            "header": self.has_header,
        }

    def format_spec(self) -> FormatSpec:
        """The non-default parts of this dialect as a `format:` block for crmpipe.yml."""
        return FormatSpec(
            delimiter=self.delimiter if self.delimiter != "," else None,
            quote=self.quote if self.quote != '"' else None,
            escape=self.escape if self.escape != self.quote else None,
            encoding=self.encoding if self.encoding != "utf-8" else None,
            header=self.has_header,
        )


@dataclass(frozen=True)
class _Sample:
    """The decoded start of a file: its text, and whether the file goes on past it."""

    text: str
    encoding: str
    has_bom: bool
    truncated: bool


def sniff(
    path: Path, *, sample_bytes: int = 1 << 20, overrides: FormatSpec | None = None
) -> Dialect:
    """Decide the dialect of the CSV file at `path` from its first `sample_bytes` bytes.

    `overrides` (a source's `format:` block) wins for every field it sets. Raises SniffError for
    an empty file, a binary file, or one whose first line is not a header.
    """
    path = Path(path)
    sample = _read_sample(path, sample_bytes, overrides.encoding if overrides else None)
    text = sample.text
    if not text.strip():
        raise SniffError(f"{path}: the file is empty; there is no header line to read")

    delimiter = _norm_delimiter(overrides.delimiter) if overrides and overrides.delimiter else None
    quote = overrides.quote if overrides and overrides.quote else None
    if delimiter is None:
        delimiter, _ = _best_delimiter(text, quote or '"', sample.truncated)
        if quote is None and _uses_single_quotes(text, delimiter):
            alt, consistency = _best_delimiter(text, "'", sample.truncated)
            _, dq_consistency = _best_delimiter(text, '"', sample.truncated)
            if consistency > dq_consistency:  # a tie keeps the usual double quote
                delimiter, quote = alt, "'"
    elif quote is None and _uses_single_quotes(text, delimiter):
        quote = "'"
    quote = quote or '"'
    escape = overrides.escape if overrides and overrides.escape else None
    if escape is None:
        escape = "\\" if _uses_backslash_escape(text, delimiter, quote) else quote

    newline = _newline(text, quote)
    header_on = overrides.header if overrides else True
    first = _first_record(text, delimiter, quote, escape)
    if first is None:
        raise SniffError(f"{path}: no records in the first {sample_bytes:,} bytes")
    if not header_on:
        # DuckDB's names for a header-less file, so configs and loaders agree.
        names = [f"column{i}" for i in range(len(first))]
    else:
        names = [h.strip() for h in first]
        _check_header(path, names, delimiter)
    return Dialect(
        delimiter=delimiter,
        quote=quote,
        escape=escape,
        encoding=sample.encoding,
        has_bom=sample.has_bom,
        newline=newline,
        header=names,
        has_header=header_on,
    )


def read_records(
    path: Path, dialect: Dialect, *, limit: int = 1000, sample_bytes: int = 1 << 20
) -> list[list[str]]:
    """Up to `limit` data records (the header line excluded) from the file's start, as strings.

    For guessing from values (`crmpipe init`), not for loading: it reads only `sample_bytes`,
    drops a record cut by the sample's end and pads/truncates records to the header's width.
    """
    sample = _read_sample(Path(path), sample_bytes, dialect.encoding)
    records = _parse(sample.text, dialect.delimiter, dialect.quote, dialect.escape)
    if sample.truncated and records:
        records = records[:-1]
    records = [r for r in records if r]  # blank lines
    width = len(dialect.header)
    out = []
    first = 1 if dialect.has_header else 0
    for rec in records[first : first + limit]:
        out.append((rec + [""] * width)[:width])
    return out


# --- encoding -------------------------------------------------------------------------------


def _read_sample(path: Path, sample_bytes: int, encoding: str | None) -> _Sample:
    """Read at most `sample_bytes` bytes and decode them (deciding the encoding unless given)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(sample_bytes + 1)
    except OSError as exc:
        raise SniffError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    truncated = len(raw) > sample_bytes
    raw = raw[:sample_bytes]

    bom_encoding, bom = None, b""
    for mark, enc in _BOMS:
        if raw.startswith(mark):
            bom_encoding, bom = enc, mark
            break
    encoding = _norm_encoding(encoding) if encoding else bom_encoding
    body = raw[len(bom) :] if bom and encoding == bom_encoding else raw

    if encoding == "utf-16":
        codec = {codecs.BOM_UTF16_BE: "utf-16-be"}.get(bom, "utf-16-le")
        # An incremental decoder keeps a half character at the cut instead of failing on it.
        text = codecs.getincrementaldecoder(codec)(errors="replace").decode(body, final=False)
        return _Sample(text, "utf-16", bool(bom), truncated)
    if b"\x00" in body[:65536]:
        raise SniffError(
            f"{path}: contains NUL bytes: a binary file (e.g. Excel), or UTF-16 without a byte-"
            "order mark; export it as CSV, or set format.encoding: utf-16 for its source"
        )
    if truncated:
        body = _trim_partial_utf8(body)
    if encoding == "latin-1":
        return _Sample(body.decode("latin-1"), "latin-1", bool(bom), truncated)
    if encoding == "utf-8":
        return _Sample(body.decode("utf-8", errors="replace"), "utf-8", bool(bom), truncated)

    text, bad, multibyte = _decode_utf8_counting(body)
    if bad == 0:
        return _Sample(text, "utf-8", False, truncated)
    if _looks_latin1(bad, multibyte, len(body)):
        return _Sample(body.decode("latin-1"), "latin-1", False, truncated)
    # A UTF-8 file with a few bad bytes: the loader rejects those lines, with line numbers.
    return _Sample(text, "utf-8", False, truncated)


def _looks_latin1(bad: int, multibyte: int, size: int) -> bool:
    """Latin-1 or "UTF-8 with a few bad bytes", from a sample's invalid and valid sequences.

    Latin-1 when invalid sequences are more than a handful per MB: with no valid multi-byte
    sequence at all, measured on the sample's own size (one accented letter in a 1 KB file is
    frequent); with valid UTF-8 present, at least a handful as well (a mostly UTF-8 file needs
    many bad ones). The choice leans to UTF-8 because its mistakes are loud: a wrong UTF-8 guess
    rejects the odd lines with line numbers, while a wrong Latin-1 guess silently garbles every
    UTF-8 character in the rest of a file the sample didn't see.
    """
    megabytes = max(size, 1) / (1 << 20)
    if multibyte == 0:
        return bad > MAX_BAD_UTF8_PER_MB * megabytes
    return bad > MAX_BAD_UTF8_PER_MB * max(megabytes, 1.0)


def _norm_encoding(name: str) -> str:
    norm = name.lower().replace("_", "-")
    return {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "cp1252": "latin-1"}.get(
        norm, norm
    )


def _trim_partial_utf8(raw: bytes) -> bytes:
    """Drop a multi-byte UTF-8 character cut by the sample's end (at most 3 bytes)."""
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte < 0x80:
            return raw  # ASCII: nothing cut
        if byte >= 0xC0:  # a lead byte: how long should its sequence be?
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return raw[:-back] if need > back else raw
    return raw


def _decode_utf8_counting(raw: bytes) -> tuple[str, int, int]:
    """Decode as UTF-8, replacing bad bytes; also count bad sequences and valid multi-byte ones.

    `surrogateescape` keeps the whole decode in C (a Latin-1 file has a bad byte on every
    accented letter, so a per-error retry loop would be quadratic); each run of bad bytes becomes
    one U+FFFD and counts as one bad sequence.
    """
    text = raw.decode("utf-8", errors="surrogateescape")
    bad_runs = _ESCAPED.findall(text)
    if not bad_runs:
        return text, 0, _non_ascii(text)
    multibyte = _non_ascii(text) - sum(len(r) for r in bad_runs)
    return _ESCAPED.sub("\ufffd", text), len(bad_runs), multibyte


_ESCAPED = re.compile("[\udc80-\udcff]+")


def _non_ascii(text: str) -> int:
    """Characters above U+007F in `text` (escaped bad bytes included), counted in C: a loop
    over the characters took 0.2 s per 1 MB sample."""
    return 0 if text.isascii() else len(text) - len(text.encode("ascii", errors="ignore"))


# --- layout ---------------------------------------------------------------------------------


def _newline(text: str, quote: str) -> str:
    """The line ending of the header: '\r\n' or '\n' (newlines inside quoted fields skipped).

    The header's own ending is the file's convention; counting every newline would let quoted
    multi-line fields (often written with a bare '\n' inside a CRLF file) outvote it.
    """
    inside = False
    for i, ch in enumerate(text[:65536]):
        if ch == quote:
            inside = not inside
        elif ch == "\n" and not inside:
            return "\r\n" if i and text[i - 1] == "\r" else "\n"
    return "\r\n" if "\r\n" in text else "\n"


def _norm_delimiter(value: str) -> str:
    """Accept the spellings people write in YAML for a tab."""
    return {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(value, value)


def _parse(text: str, delimiter: str, quote: str, escape: str | None = None) -> list[list[str]]:
    """All records of `text` (csv module: quoted newlines and delimiters handled)."""
    if len(delimiter) != 1:
        # csv can't split on a multi-character delimiter; headers rarely quote, so split lines.
        return [line.split(delimiter) for line in text.splitlines()]
    backslash = escape is not None and escape != quote
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar=quote,
        escapechar=escape if backslash else None,
        doublequote=not backslash,
        strict=False,
    )
    try:
        return list(reader)
    except csv.Error:  # e.g. a field larger than csv's limit: take what parsed
        return []


def _best_delimiter(text: str, quote: str, truncated: bool) -> tuple[str, float]:
    """The delimiter giving the most consistent field count (> 1) over the sample's records.

    Consistency = share of records (header included) having the most common field count; ties
    go to the earlier delimiter in DELIMITERS (comma first). The header counts because it rarely
    contains the wrong delimiter, which separates e.g. tab files whose text has commas.
    """
    best, best_key = ",", (-1.0, 0)
    for rank, delim in enumerate(DELIMITERS):
        records = [r for r in _parse(text, delim, quote) if r]
        if truncated and len(records) > 1:
            records = records[:-1]
        if not records:
            continue
        counts = Counter(len(r) for r in records)
        width, hits = counts.most_common(1)[0]
        if width <= 1:
            continue
        consistency = hits / len(records)
        key = (consistency, -rank)
        if key > best_key:
            best, best_key = delim, key
    return best, max(best_key[0], 0.0)


def _uses_single_quotes(text: str, delimiter: str) -> bool:
    """True when fields are evidently wrapped in ' rather than " (e.g. 'a','b').

    Evidence is a header written in single quotes (writers that quote every field quote the
    header too), or single-quoted fields that hold the delimiter (quoted because they must be).
    A value like '1' alone proves nothing: it may just be text with apostrophes.
    """
    d = re.escape(delimiter)
    first = text.split("\n", 1)[0].rstrip("\r")
    fields = first.split(delimiter)
    if len(fields) > 1 and all(len(f) > 1 and f[0] == f[-1] == "'" for f in fields):
        return '"' not in first
    needed = re.findall(rf"(?:^|{d})'[^'\r\n]*{d}[^'\r\n]*'(?={d}|\r?$)", text, re.M)
    double = re.findall(rf'(?:^|{d})"', text, re.M)  # any field opening with a double quote
    return len(needed) >= 2 and not double


def _uses_backslash_escape(text: str, delimiter: str, quote: str) -> bool:
    """True when quotes inside fields are written \\" rather than doubled ("").

    Only looked into when the sample has a backslash before a quote; then the sample is parsed
    strictly both ways and the better reading wins: no quoting error first, then the more
    consistent field count; a tie goes to doubled quotes, the CSV standard. Patterns alone can't
    tell `"a\\""` (a backslash, then a doubled quote) from `"he said \\"hi\\""`.
    """
    if "\\" + quote not in text or len(delimiter) != 1:
        return False
    backslash = _strict_reading(text, delimiter, quote, "\\")
    doubled = _strict_reading(text, delimiter, quote, None)
    return backslash > doubled


def _strict_reading(
    text: str, delimiter: str, quote: str, escape: str | None
) -> tuple[bool, float, int]:
    """(parsed without a quoting error, field-count consistency, records) for one reading."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar=quote,
        escapechar=escape,
        doublequote=escape is None,
        strict=True,
    )
    counts: Counter[int] = Counter()
    clean = True
    try:
        for rec in reader:
            if rec:
                counts[len(rec)] += 1
    except csv.Error:
        clean = False
    total = sum(counts.values())
    consistency = counts.most_common(1)[0][1] / total if total else 0.0
    return clean, consistency, total


def _first_record(text: str, delimiter: str, quote: str, escape: str) -> list[str] | None:
    # Parse only the start when that holds a whole record: the header ends within a few KB.
    records = _parse(text[:65536], delimiter, quote, escape)
    if len(records) < 2:
        records = _parse(text, delimiter, quote, escape)
    records = [r for r in records if r] if records and not records[0] else records
    return records[0] if records else None


_NUMBER = re.compile(r"^[-+]?\d+([.,]\d+)?$")
_VALUE_LIKE = re.compile(
    r"""^(
        \d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*   # a date
      | [^@\s]+@[^@\s]+\.[a-z]{2,}          # an e-mail
      | (https?://|www\.)\S+               # a URL
      | \(?\d{3}\)?[-.\s]?\d{3}[-.\s]\d{4}  # a phone
    )$""",
    re.X | re.I,
)


def _check_header(path: Path, names: list[str], delimiter: str) -> None:
    """Raise SniffError when the first record evidently is data, not column names.

    Evidently: every name is a number or value, or most are and one is an e-mail, date, URL or
    phone (a header like `name,2021,2022` stays a header).
    """
    shown = "tab" if delimiter == "\t" else repr(delimiter)
    if not any(names):
        raise SniffError(
            f"{path}: the first line has no column names; add a header line, or set "
            "format.header: false for its source in crmpipe.yml"
        )
    filled = [n for n in names if n]
    values = [n for n in filled if _VALUE_LIKE.match(n)]
    numbers = [n for n in filled if _NUMBER.match(n)]
    data_like = len(values) + len(numbers)
    if data_like == len(filled) or (values and data_like * 2 > len(filled)):
        preview = ", ".join(filled[:3])
        raise SniffError(
            f"{path}: the first line ({preview}, ...) looks like data, not a header (read with "
            f"delimiter {shown}); add a header line, or set format.header: false (and "
            "format.delimiter if that is wrong) for its source in crmpipe.yml"
        )


def raw_names(header: list[str]) -> list[str]:
    """The names the loader gives a file's columns: headers made unique and non-empty.

    An empty header is `column<n>` (1-based), a repeated one gets `_2`, `_3`. Used by ingest for
    the raw table's columns and by init, so a guessed mapping names columns that really exist.
    """
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        name = name.strip() or f"column{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        out.append(name)
    return out
