"""Vectorized mess injection and CSV writing for the demo generators.

Mess is planted in two steps so that millions of rows cost seconds: numpy draws a small integer
*code* per row and column (0 = clean, k = the k-th kind of mess), then the SQL builders here
render the value according to its code inside one DuckDB query. Because the clean value and the
code are both known, the ground truth comes out of the same query.

Files are written by `write_csv_lines`: DuckDB renders each row as one finished CSV line, and the
line column's Arrow buffer is written to disk as is; the few deliberately malformed lines are
spliced in as raw bytes (they can't exist as DuckDB strings: one is not even valid UTF-8).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from crmpipe.sqltext import sql_str

# --------------------------------------------------------------------------------------------
# Drawing codes


def draw_codes(rng: np.random.Generator, n: int, probs: Sequence[float]) -> np.ndarray:
    """One code per row: k (1-based) with probability probs[k-1], else 0 (clean). int8.

    Mess is rare, so only the few rows that get some are looked up in the CDF.
    """
    p = np.asarray(probs, dtype=np.float64)
    codes = np.zeros(n, dtype=np.int8)
    if p.size == 0:
        return codes
    cdf = np.cumsum(p)
    if cdf[-1] > 1 + 1e-9:
        raise ValueError(f"mess probabilities sum to {cdf[-1]:.3f} > 1")
    u = rng.random(n, dtype=np.float32)
    hit = np.flatnonzero(u < cdf[-1])
    codes[hit] = np.minimum(np.searchsorted(cdf, u[hit], side="right"), p.size - 1) + 1
    return codes


def draw_choice(rng: np.random.Generator, n: int, probs: np.ndarray) -> np.ndarray:
    """n indices drawn from the categorical distribution `probs` (int32, by inverse CDF)."""
    cdf = np.cumsum(probs, dtype=np.float64)
    cdf = (cdf / cdf[-1]).astype(np.float32)
    idx = np.searchsorted(cdf, rng.random(n, dtype=np.float32), side="right")
    return np.minimum(idx, len(probs) - 1).astype(np.int32)


# Arrow columns are built from buffers: `pa.array()` would import pandas on first use (over a
# second when bytecode isn't cached), for nothing here.


def arrow_column(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """A numeric or boolean numpy array as an Arrow array (no copy for numbers); `mask` marks
    the nulls."""
    values = np.ascontiguousarray(values)
    validity = None
    null_count = 0
    if mask is not None:
        validity = pa.py_buffer(np.packbits(~np.asarray(mask, bool), bitorder="little"))
        null_count = int(np.count_nonzero(mask))
    if values.dtype == np.bool_:
        data = pa.py_buffer(np.packbits(values, bitorder="little"))
        return pa.Array.from_buffers(pa.bool_(), len(values), [validity, data], null_count)
    return pa.Array.from_buffers(
        pa.from_numpy_dtype(values.dtype), len(values), [validity, pa.py_buffer(values)], null_count
    )


def arrow_strings(values: Sequence[str]) -> pa.Array:
    """A list of str as an Arrow string array."""
    encoded = [str(x).encode() for x in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(
        pa.large_string(),
        len(encoded),
        [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
    )


def dictionary_column(indices: np.ndarray, values: Sequence[str] | np.ndarray) -> pa.Array:
    """A string column as an Arrow dictionary (indices into `values`): no per-row Python."""
    return pa.DictionaryArray.from_arrays(
        arrow_column(np.asarray(indices, dtype=np.int32)), arrow_strings(list(values))
    )


def arrow_table(columns: Mapping[str, pa.Array | np.ndarray]) -> pa.Table:
    """An Arrow table from Arrow arrays and numpy arrays."""
    arrays = [c if isinstance(c, pa.Array) else arrow_column(c) for c in columns.values()]
    return pa.Table.from_arrays(arrays, names=list(columns))


# --------------------------------------------------------------------------------------------
# SQL renderers: each takes SQL expressions (the clean value, the code) and returns SQL


def sql_concat(*parts: str) -> str:
    """SQL concatenation of `parts` in one call: `concat()` allocates once per row, where a
    chain of `||` builds every intermediate string (3x slower at millions of rows)."""
    return f"concat({', '.join(parts)})" if len(parts) > 1 else parts[0]


#: Spellings of "no value" seen in exports; code k renders NULL_TOKENS[k-1].
NULL_TOKENS: tuple[str, ...] = ("", "N/A", "null", "-", "none", "NULL", "n/a")
#: Relative frequency of each null token among nulls.
NULL_TOKEN_WEIGHTS: tuple[float, ...] = (0.40, 0.15, 0.10, 0.10, 0.10, 0.10, 0.05)


def null_token_probs(rate: float) -> list[float]:
    """Code probabilities for `sql_null` that make `rate` of the rows null, tokens mixed."""
    return [rate * w for w in NULL_TOKEN_WEIGHTS]


def sql_null(expr: str, code: str) -> str:
    """`expr`, or the null token chosen by `code` (> 0)."""
    tokens = "[" + ", ".join(sql_str(t) for t in NULL_TOKENS) + "]"
    return f"CASE WHEN {code} > 0 THEN {tokens}[{code}] ELSE {expr} END"


def sql_case_noise(expr: str, code: str) -> str:
    """Case noise: 1 = UPPER, 2 = lower, 3 = first letter only upper ('Finance director')."""
    return (
        f"CASE {code} WHEN 1 THEN upper({expr}) WHEN 2 THEN lower({expr}) "
        f"WHEN 3 THEN concat(upper(left({expr}, 1)), lower(substr({expr}, 2))) ELSE {expr} END"
    )


def sql_ws_noise(expr: str, code: str) -> str:
    """Whitespace noise: 1 = padded both sides, 2 = trailing, 3 = leading, 4 = doubled inside."""
    return (
        f"CASE {code} WHEN 1 THEN concat('  ', {expr}, '  ') WHEN 2 THEN concat({expr}, ' ') "
        f"WHEN 3 THEN concat(' ', {expr}) WHEN 4 THEN CASE WHEN contains({expr}, ' ') "
        f"THEN replace({expr}, ' ', '  ') ELSE concat({expr}, '  ') END ELSE {expr} END"
    )


def _template_sql(template: str, parts: Mapping[str, str]) -> str:
    """'({a}) {e}-{l}' with parts {'a': sql, ...} → SQL concatenation."""
    out: list[str] = []
    for piece in re.split(r"(\{\w+\})", template):
        if not piece:
            continue
        if piece.startswith("{") and piece.endswith("}"):
            out.append(parts[piece[1:-1]])
        else:
            out.append(sql_str(piece))
    return sql_concat(*out)


#: US phone layouts ({a} area code, {e} exchange, {l} line); code k uses PHONE_FORMATS[k].
PHONE_FORMATS: tuple[str, ...] = (
    "({a}) {e}-{l}",
    "{a}-{e}-{l}",
    "{a}.{e}.{l}",
    "{a}{e}{l}",
    "+1 {a} {e} {l}",
    "1-{a}-{e}-{l}",
    "{a} {e} {l}",
    "({a}){e}-{l}",
    "+1 ({a}) {e}-{l}",
    "+1{a}{e}{l}",
    "1 ({a}) {e}-{l}",
    "+1-{a}-{e}-{l}",
    "1{a}{e}{l}",
    "{a}/{e}-{l}",
)
#: Share of each layout: two dominate, the rest are the long tail (a few % each).
PHONE_FORMAT_WEIGHTS: tuple[float, ...] = (
    0.42,
    0.28,
    0.035,
    0.035,
    0.025,
    0.025,
    0.025,
    0.025,
    0.02,
    0.02,
    0.02,
    0.02,
    0.02,
    0.01,
)
#: Extension layouts ({x} the digits).
EXT_FORMATS: tuple[str, ...] = (
    " x{x}",
    " ext. {x}",
    " #{x}",
    " ext {x}",
    " Ext. {x}",
    " x {x}",
    " EXT {x}",
    " extension {x}",
    " ext.{x}",
)
EXT_FORMAT_WEIGHTS: tuple[float, ...] = (0.30, 0.20, 0.08, 0.12, 0.10, 0.06, 0.06, 0.04, 0.04)


def sql_phone(area: str, exchange: str, line: str, fmt: str) -> str:
    """A US number rendered in layout `fmt` (an index into PHONE_FORMATS)."""
    parts = {
        "a": f"CAST({area} AS VARCHAR)",
        "e": f"CAST({exchange} AS VARCHAR)",
        "l": f"lpad(CAST({line} AS VARCHAR), 4, '0')",
    }
    whens = " ".join(
        f"WHEN {i} THEN {_template_sql(t, parts)}" for i, t in enumerate(PHONE_FORMATS)
    )
    return f"CASE {fmt} {whens} END"


def sql_phone_e164(area: str, exchange: str, line: str) -> str:
    """The E.164 form of a US number: +1 and ten digits."""
    return sql_concat(
        "'+1'",
        f"CAST({area} AS VARCHAR)",
        f"CAST({exchange} AS VARCHAR)",
        f"lpad(CAST({line} AS VARCHAR), 4, '0')",
    )


def sql_extension(ext: str, fmt: str) -> str:
    """' x12' etc. for a non-NULL extension number, '' when it is NULL."""
    x = {"x": f"CAST({ext} AS VARCHAR)"}
    whens = " ".join(f"WHEN {i} THEN {_template_sql(t, x)}" for i, t in enumerate(EXT_FORMATS))
    return f"CASE WHEN {ext} IS NULL THEN '' ELSE CASE {fmt} {whens} END END"


#: Timestamp layouts: (strftime format or 'epoch', keeps the time of day). Code k = index k.
DATE_FORMATS: tuple[tuple[str, bool], ...] = (
    ("%Y-%m-%d %H:%M:%S", True),
    ("%Y-%m-%d", False),
    ("%Y-%m-%dT%H:%M:%S", True),
    ("%-m/%-d/%Y", False),
    ("%-m/%-d/%y", False),
    ("epoch", True),
)


def sql_timestamp_text(epoch: str, fmt: str) -> str:
    """Epoch seconds (UTC) rendered in layout `fmt` (an index into DATE_FORMATS)."""
    ts = f"make_timestamp(CAST({epoch} AS BIGINT) * 1000000)"
    whens = []
    for i, (f, _) in enumerate(DATE_FORMATS):
        body = f"CAST({epoch} AS VARCHAR)" if f == "epoch" else f"strftime({ts}, {sql_str(f)})"
        whens.append(f"WHEN {i} THEN {body}")
    return f"CASE {fmt} {' '.join(whens)} END"


def sql_timestamp_truth(epoch: str, fmt: str) -> str:
    """What the text of `sql_timestamp_text` means, as ISO 8601 (date-only layouts → 00:00)."""
    ts = f"make_timestamp(CAST({epoch} AS BIGINT) * 1000000)"
    date_only = [str(i) for i, (_, keeps_time) in enumerate(DATE_FORMATS) if not keeps_time]
    return (
        f"strftime(CASE WHEN {fmt} IN ({', '.join(date_only)}) THEN date_trunc('day', {ts}) "
        f"ELSE {ts} END, '%Y-%m-%dT%H:%M:%S')"
    )


def sql_csv_field(expr: str) -> str:
    """A value as a CSV field: quoted (quotes doubled) only when it holds a comma or quote."""
    return (
        f"CASE WHEN contains({expr}, ',') OR contains({expr}, '\"') "
        f"THEN concat('\"', replace({expr}, '\"', '\"\"'), '\"') ELSE {expr} END"
    )


def sql_csv_line(
    exprs: Iterable[str],
    *,
    eol: str = "\n",
    quote_all: bool = False,
    needs_quoting: Iterable[bool] | None = None,
) -> str:
    """One CSV line (with its end-of-line) from SQL text expressions, none of them NULL.

    `needs_quoting` says per field whether it can hold a comma or quote; fields that never do
    skip the check (it is the costly part at millions of rows).
    """
    exprs = list(exprs)
    flags = list(needs_quoting) if needs_quoting is not None else [True] * len(exprs)
    fields = []
    for e, q in zip(exprs, flags, strict=True):
        if quote_all:
            fields.append(f"concat('\"', replace({e}, '\"', '\"\"'), '\"')")
        else:
            fields.append(sql_csv_field(e) if q else e)
    parts: list[str] = []
    for f in fields:
        parts += [f, "','"]
    parts[-1:] = [f"chr({ord(c)})" for c in eol]
    return sql_concat(*parts)


# --------------------------------------------------------------------------------------------
# Writing


def csv_line(fields: Sequence[str], eol: str = "\n") -> str:
    """One CSV line as Python's csv module writes it (minimal quoting)."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator=eol).writerow(fields)
    return buf.getvalue()


def _offsets(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """The offsets and data buffer of a (large) string array, for slicing lines out of it."""
    if pa.types.is_large_string(arr.type):
        width = np.int64
    elif pa.types.is_string(arr.type):
        width = np.int32
    else:
        raise TypeError(f"expected an Arrow string array of CSV lines, got {arr.type}")
    bufs = arr.buffers()
    offs = np.frombuffer(bufs[1], dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    return offs, memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")


class LineWriter:
    """Writes one CSV file from finished lines: a header, then the selected rows of Arrow string
    arrays (each value one line with its end-of-line), straight from the Arrow buffers.

    `replacements` maps a data row's 0-based index in this file to the raw bytes written in its
    place (the malformed lines, which can't be DuckDB strings).
    """

    def __init__(
        self,
        path: Path,
        header: str,
        *,
        eol: str = "\n",
        bom: bool = False,
        replacements: Mapping[int, bytes] | None = None,
    ) -> None:
        self.path = path
        self.rows = 0
        self._repl = dict(replacements or {})
        self._repl_keys = sorted(self._repl)
        self._next = 0  # index into _repl_keys of the next replacement to come
        self._fh = path.open("wb")
        if bom:
            self._fh.write(b"\xef\xbb\xbf")
        self._fh.write((header + eol).encode())

    def write(self, lines: pa.Array, select: np.ndarray | None = None) -> None:
        """Append `lines` (or those where the boolean mask `select` is true), in order."""
        if lines.null_count:
            raise ValueError(f"{self.path.name}: a rendered CSV line is NULL")
        offs, data = _offsets(lines)
        if select is None:
            runs: Iterable[tuple[int, int]] = [(0, len(lines))]
        else:
            edges = np.diff(np.concatenate(([0], np.asarray(select, np.int8), [0])))
            runs = zip(
                np.flatnonzero(edges == 1).tolist(),
                np.flatnonzero(edges == -1).tolist(),
                strict=True,
            )
        fh, keys = self._fh, self._repl_keys
        for a, b in runs:
            end_row = self.rows + (b - a)
            while self._next < len(keys) and keys[self._next] < end_row:
                r = a + keys[self._next] - self.rows  # the replaced row, as an index in `lines`
                fh.write(data[offs[a] : offs[r]])
                fh.write(self._repl[keys[self._next]])
                self.rows += r + 1 - a
                a = r + 1
                self._next += 1
            fh.write(data[offs[a] : offs[b]])
            self.rows += b - a

    def close(self) -> int:
        """Close the file; returns the number of data rows written."""
        self._fh.close()
        if self._next != len(self._repl_keys):
            raise ValueError(f"{self.path.name}: replacement rows beyond the end of the file")
        return self.rows

    def __enter__(self) -> LineWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._fh.closed:
            self._fh.close()


def write_csv_lines(
    path: Path,
    header: str,
    batches: Iterable[pa.RecordBatch],
    *,
    eol: str = "\n",
    bom: bool = False,
    replacements: Mapping[int, bytes] | None = None,
) -> int:
    """Write a header and the first column of `batches` (finished lines) to `path`; returns the
    number of data rows. See `LineWriter`."""
    with LineWriter(path, header, eol=eol, bom=bom, replacements=replacements) as w:
        for batch in batches:
            w.write(batch.column(0))
        return w.close()


def write_csv_rows(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    eol: str = "\n",
    bom: bool = False,
    quote_all: bool = False,
) -> int:
    """Write small files (mappings, techstacks) with Python's csv module. Returns data rows."""
    n = 0
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        fh.write(csv_line(header, eol))  # headers unquoted even when values are all quoted
        w = csv.writer(
            fh, lineterminator=eol, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
        )
        for row in rows:
            w.writerow(row)
            n += 1
    return n


# --------------------------------------------------------------------------------------------
# Malformed lines

#: The kinds of malformed CSV line a demo file gets (never an unterminated quote: it would
#: swallow the rest of the file and make every later line's fate reader-dependent).
MALFORMED_KINDS: tuple[str, ...] = ("too_many_fields", "too_few_fields", "invalid_utf8")

#: Accented names as a Windows-1252 export writes them: invalid UTF-8 inside a UTF-8 file.
LATIN1_NAMES: tuple[str, ...] = (
    "José",
    "René",
    "Zoë",
    "Chloé",
    "André",
    "Noël",
    "Renée",
    "Inés",
    "Ramón",
    "Françoise",
)


def malformed_line(
    kind: str,
    fields: Sequence[str],
    *,
    index: int,
    eol: str = "\n",
    name_field: int = 2,
    suffix_field: int = 3,
    keep_fields: int = 5,
) -> bytes:
    """A broken version of the CSV line whose values are `fields`.

    - too_many_fields: `suffix_field` gets an unquoted ", Jr." (one field too many);
    - too_few_fields: the line is cut after `keep_fields` fields (a truncated export);
    - invalid_utf8: the line is encoded as Windows-1252, with `name_field` made an accented
      name (one of LATIN1_NAMES, chosen by `index`) unless it already holds non-ASCII text.
    """
    fields = list(fields)
    if kind == "too_many_fields":
        head = csv_line(fields[:suffix_field], "").encode()
        tail = csv_line(fields[suffix_field + 1 :], eol).encode()
        return head + b"," + (fields[suffix_field].strip() + ", Jr.").encode() + b"," + tail
    if kind == "too_few_fields":
        return csv_line(fields[:keep_fields], eol).encode()
    if kind == "invalid_utf8":
        if fields[name_field].isascii():
            fields[name_field] = LATIN1_NAMES[index % len(LATIN1_NAMES)]
        return csv_line(fields, eol).encode("cp1252", errors="replace")
    raise ValueError(f"unknown malformed kind {kind!r}")
