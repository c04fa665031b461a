"""Ingest: source files → `raw.<source>` (append-only, every value text) with lineage.

Each file is hashed (once: ingest.digests remembers the digest while the file's stat stays the
same); a file whose content was already loaded for its source is skipped (the manifest), so
re-running is safe. The CSV dialect is sniffed on a clean sample (or set per
source) and passed to DuckDB explicitly; malformed lines land in `meta.rejects` with the line
number and DuckDB's message while the rest of the file loads. Columns that appear in a later
file are added to the raw table and recorded in `meta.schema_changes`.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from crmpipe.config.schema import Config, SourceSpec
from crmpipe.errors import CrmpipeError
from crmpipe.ingest import digests
from crmpipe.ingest.headers import mapped_headers, resolve_header
from crmpipe.ingest.sniff import Dialect, SniffError, raw_names, sniff
from crmpipe.model import LINEAGE_COLUMNS
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import number_by_rowid, table_columns


class IngestError(CrmpipeError):
    """A source can't be ingested at all (no files, unreadable file); one line."""


@dataclass
class FileResult:
    """What happened to one file in this run."""

    source: str
    file: Path
    status: str  # "loaded" | "skipped"
    rows_loaded: int = 0
    rows_rejected: int = 0
    added_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    dialect: Dialect | None = None

    @property
    def rows_read(self) -> int:
        return self.rows_loaded + self.rows_rejected


def source_files(cfg: Config, name: str, spec: SourceSpec) -> list[Path]:
    """The files a source's `path` glob matches (relative to the project file), sorted."""
    pattern = spec.path
    if "://" in pattern:
        raise IngestError(
            f"sources.{name}.path: remote paths ({pattern.split('://')[0]}://) need the httpfs "
            "extension, which is not available offline; copy the files locally"
        )
    base = Path(pattern) if Path(pattern).is_absolute() else cfg.base_dir / pattern
    matches = sorted(Path(p) for p in glob.glob(str(base), recursive=True) if Path(p).is_file())
    if not matches:
        raise IngestError(f"sources.{name}.path: no files match {pattern!r} (in {cfg.base_dir})")
    return matches


def already_loaded(con: duckdb.DuckDBPyConnection, source: str, digest: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM meta.manifest WHERE source = ? AND file_hash = ?", [source, digest]
    ).fetchone()
    return bool(row and row[0])


def _read_csv_sql(dialect: Dialect, header: bool) -> str:
    """The read_csv call with the sniffed dialect spelled out (all values as text)."""
    return (
        "read_csv($path, delim=$delim, quote=$quote, escape=$escape, header=$header, "
        "all_varchar=true, encoding=$encoding, store_rejects=true, auto_detect=false, "
        "columns=$columns, null_padding=false, max_line_size=10000000)"
    )


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    source: str,
    spec: SourceSpec,
    path: Path,
    run_id: int,
) -> FileResult:
    """Load one file into raw.<source>, unless its content is already there."""
    digest = digests.digest(con, path)  # read again only when its stat changed
    if already_loaded(con, source, digest):
        return FileResult(source, path, "skipped")
    try:
        dialect = sniff(path, overrides=spec.format)
    except SniffError as exc:
        raise IngestError(f"sources.{source}: {exc}") from None
    names = raw_names(dialect.header)
    wanted = mapped_headers(spec)
    if wanted and not any(resolve_header(names, h) for h in wanted):
        shown = ", ".join(repr(h) for h in wanted[:4]) + (", ..." if len(wanted) > 4 else "")
        raise IngestError(
            f"{path}: its header fits no mapping of source {source} (none of {shown}); "
            "move the file out of the source's path, or map its headers in crmpipe.yml"
        )
    raw = f"raw.{quote_ident(source)}"
    existing = table_columns(con, "raw", source)
    lineage = [n for n, _ in LINEAGE_COLUMNS]
    added = [n for n in names if existing and n not in existing]
    missing = [n for n in existing if n not in lineage and n not in names] if existing else []
    now = datetime.now(UTC).replace(tzinfo=None)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
    params = {
        "path": str(path),
        "delim": dialect.delimiter,
        "quote": dialect.quote,
        "escape": dialect.escape,
        "header": spec.format.header,
        "encoding": dialect.encoding,
        "columns": {n: "VARCHAR" for n in names},
        "source": source,
        "file": str(path),
        "mtime": mtime,
        "hash": digest,
        "run": run_id,
        "now": now,
    }
    select = (
        "SELECT $source AS _source, $file AS _file, $mtime::TIMESTAMP AS _file_mtime, "
        "$hash AS _file_hash, NULL::BIGINT AS _row, $run::BIGINT AS _run_id, "
        f"$now::TIMESTAMP AS _loaded_at, * FROM {_read_csv_sql(dialect, spec.format.header)}"
    )
    _clear_rejects(con)
    try:
        if not existing:
            con.execute(f"CREATE TABLE {raw} AS {select}", params)
        else:
            for col in added:
                con.execute(f"ALTER TABLE {raw} ADD COLUMN {quote_ident(col)} VARCHAR")
            con.execute(f"INSERT INTO {raw} BY NAME {select}", params)
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise IngestError(f"{path}: cannot be read as CSV: {first}") from None
    loaded = _number(con, raw, digest)
    records = _rejected_records(con, spec.format.header)
    rejected = _store_rejects(con, source, path, digest, run_id)
    if records:
        _renumber(con, raw, digest, loaded, records)
    for col in added:
        _schema_change(con, source, path, run_id, "added_column", col, now)
    for col in missing:
        _schema_change(con, source, path, run_id, "missing_column", col, now)
    con.execute(
        "INSERT INTO meta.manifest VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            source,
            str(path),
            digest,
            path.stat().st_size,
            mtime,
            run_id,
            now,
            loaded,
            rejected,
            dialect.encoding,
            dialect.delimiter,
        ],
    )
    return FileResult(source, path, "loaded", loaded, rejected, added, missing, dialect)


def _number(con: duckdb.DuckDBPyConnection, raw: str, digest: str) -> int:
    """Number the file's rows just inserted (`_row`, from 1, in the file's order); return how
    many. The insert kept the file's order (DuckDB preserves insertion order) and appended the
    rows after the table's others, so a row's number is its place among them by `rowid`: its
    `rowid` past the first one's when they are one run of row ids, as an append gives. The
    insert's `row_number() OVER ()` did this on one core, the insert's writing with it (~5 s of
    the 1M leads case); the scan and the write now run on every thread."""
    return number_by_rowid(con, raw, "_row", "_file_hash = ?", [digest])


def _clear_rejects(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("reject_errors", "reject_scans"):
        if con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [t]
        ).fetchone()[0]:
            con.execute(f"DELETE FROM {t}")


def _store_rejects(
    con: duckdb.DuckDBPyConnection, source: str, path: Path, digest: str, run_id: int
) -> int:
    """Copy DuckDB's reject_errors for this scan into meta.rejects; return rejected lines."""
    if not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'reject_errors' AND temporary"
    ).fetchone()[0]:
        return 0
    errors = con.execute(
        "SELECT line, line_byte_position, column_name, error_type, error_message, csv_line "
        "FROM reject_errors ORDER BY line_byte_position, column_idx"
    ).fetchall()
    if not errors:
        return 0
    lines = _physical_lines(path, [e[1] for e in errors])
    con.executemany(
        "INSERT INTO meta.rejects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (source, str(path), digest, lines.get(e[1], e[0]), e[2], e[3], e[4], e[5], run_id)
            for e in errors
        ],
    )
    (n,) = con.execute("SELECT count(DISTINCT line) FROM reject_errors").fetchone()
    _clear_rejects(con)
    return int(n)


def _rejected_records(con: duckdb.DuckDBPyConnection, header: bool) -> list[int]:
    """The data-record numbers (from 1) of this scan's rejected records: DuckDB counts records,
    the header included, so a multi-line quoted record counts once."""
    if not con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'reject_errors' AND temporary"
    ).fetchone()[0]:
        return []
    rows = con.execute(
        "SELECT DISTINCT line - ? FROM reject_errors WHERE line IS NOT NULL ORDER BY 1",
        [1 if header else 0],
    ).fetchall()
    return [int(r[0]) for r in rows if r[0] and r[0] > 0]


def _renumber(
    con: duckdb.DuckDBPyConnection, raw: str, digest: str, loaded: int, rejected: list[int]
) -> None:
    """`_row` is the data row's number in its file, rejected records counted: the k-th loaded
    row is the k-th record number that was not rejected (set-based, one UPDATE)."""
    con.execute(
        f"UPDATE {raw} r SET _row = n.i FROM ("
        "SELECT i, row_number() OVER (ORDER BY i) AS k FROM range(1, ? + 1) t(i) "
        "WHERE NOT list_contains(?, i)) n WHERE r._file_hash = ? AND r._row = n.k",
        [loaded + len(rejected), rejected, digest],
    )


def _physical_lines(path: Path, byte_positions: list[int]) -> dict[int, int]:
    """Map DuckDB's 1-based byte offsets of rejected lines to physical line numbers.

    DuckDB counts records, so its line number drifts after a multi-line quoted field; users
    open the file in an editor, so we report the physical line. One pass, only when rejects exist.
    """
    wanted = sorted({p for p in byte_positions if p})
    out: dict[int, int] = {}
    if not wanted:
        return out
    newlines, offset, i = 0, 0, 0
    with path.open("rb") as fh:
        while i < len(wanted) and (chunk := fh.read(1 << 22)):
            end = offset + len(chunk)
            while i < len(wanted) and wanted[i] - 1 <= end:
                out[wanted[i]] = newlines + chunk.count(b"\n", 0, wanted[i] - 1 - offset) + 1
                i += 1
            newlines += chunk.count(b"\n")
            offset = end
    return out


def _schema_change(
    con: duckdb.DuckDBPyConnection,
    source: str,
    path: Path,
    run_id: int,
    change: str,
    column: str,
    when: datetime,
) -> None:
    con.execute(
        "INSERT INTO meta.schema_changes VALUES (?, ?, ?, ?, ?, ?)",
        [source, str(path), run_id, change, column, when],
    )


def ingest_source(
    con: duckdb.DuckDBPyConnection, cfg: Config, name: str, run_id: int
) -> list[FileResult]:
    """Ingest every file of one source; returns one result per file (loaded or skipped)."""
    spec = cfg.sources[name]
    return [ingest_file(con, name, spec, p, run_id) for p in source_files(cfg, name, spec)]
