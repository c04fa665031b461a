"""File digests remembered by the file's identity on disk: a run reads only new or changed files.

A file's identity in the manifest is the SHA-256 of its bytes, and every run hashed every file
of every source to tell new files from loaded ones: at 4.5M contacts, 725 MB read and hashed,
0.4–0.7 s of a run that brings one 5 MB file. Now the digest is recorded with the file's path,
size, inode, device and modification and change times (ns) in `meta.file_digests`; a file
whose stat still says all of these is not read again. The change time (ctime) is set by the
system at every write, truncation, rename or `utime` and cannot be set back by a user, so a
file rewritten in place and given its old mtime is still hashed again; a copy or a restored
file has a new inode and ctime. What stat cannot tell is a write within the clock's
granularity of the moment the file was hashed (git's "racy" index entries): a digest is
trusted only when the file's last change came at least `RACY_NS` before its hashing began, and
one whose stat moved while it was read is not recorded. On Windows `st_ctime` is the creation
time, which a rewrite in place keeps: there every file is hashed at every run, as before.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import duckdb

TABLE = "meta.file_digests"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (path VARCHAR, size BIGINT, mtime_ns BIGINT, "
    "ctime_ns BIGINT, inode BIGINT, device BIGINT, file_hash VARCHAR, hashed_at_ns BIGINT)"
)
#: How long before its hashing a file must have last changed for the digest to be trusted.
RACY_NS = 2_000_000_000


def file_hash(path: Path) -> str:
    """SHA-256 of the file's bytes: the identity of a file version in the manifest."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _identity(path: Path, st: os.stat_result) -> list:
    return [
        str(path.resolve()),
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_dev,
    ]


def digest(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """The SHA-256 of `path`'s bytes: as recorded when its stat is unchanged since a trusted
    hashing, else read and hashed (and recorded)."""
    if os.name == "nt":  # no change time to tell a rewrite in place by
        return file_hash(path)
    con.execute(DDL)
    before = path.stat()
    ident = _identity(path, before)
    rows = con.execute(
        f"SELECT file_hash FROM {TABLE} WHERE path = ? AND size = ? AND mtime_ns = ? "
        "AND ctime_ns = ? AND inode = ? AND device = ? AND hashed_at_ns - greatest(mtime_ns, "
        "ctime_ns) >= ?",
        [*ident, RACY_NS],
    ).fetchall()
    if rows:
        return str(rows[0][0])
    began = time.time_ns()
    value = file_hash(path)
    con.execute(f"DELETE FROM {TABLE} WHERE path = ?", [ident[0]])
    if _identity(path, path.stat()) == ident:  # not changed while it was read
        con.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [*ident, value, began])
    return value
