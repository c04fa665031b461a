"""File digests remembered by stat (ingest.digests): a file is read again only when it may have
changed, and a change the stat cannot hide is always seen.

- An unchanged file, hashed long enough after its last change, is not read again, and its
  digest is the file's SHA-256.
- A file rewritten in place with the same size and its old mtime set back is read again (its
  ctime moved) and loads as new content.
- A digest taken right after the file changed (the clock's granularity) is not trusted.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from crmpipe.config.load import parse_config
from crmpipe.ingest import digests
from crmpipe.ingest.read import ingest_source
from crmpipe.warehouse.connection import connect


@pytest.fixture()
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files actually read and hashed."""
    seen: list[Path] = []
    real = digests.file_hash

    def spy(path: Path) -> str:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(digests, "file_hash", spy)
    return seen


def _aged(path: Path, text: str, seconds: int = 60) -> None:
    """Write `text` and date the file `seconds` back (mtime; its ctime is now)."""
    path.write_text(text)
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_an_unchanged_file_is_not_read_again(tmp_path: Path, reads, monkeypatch) -> None:
    con = connect(None)
    path = tmp_path / "a.csv"
    _aged(path, "id,name\n1,Ann\n")
    # hashed "later" than its last change (its ctime is now): shift the clock forward
    now = time.time_ns()
    monkeypatch.setattr(digests.time, "time_ns", lambda: now + 2 * digests.RACY_NS)
    first = digests.digest(con, path)
    assert first == hashlib.sha256(path.read_bytes()).hexdigest()
    assert digests.digest(con, path) == first
    assert reads == [path]


def test_a_file_rewritten_with_its_old_size_and_mtime_is_read_again(tmp_path: Path, reads) -> None:
    text = f"sources:\n  src:\n    path: '{tmp_path}/*.csv'\n    table: contacts\n"
    (tmp_path / "crmpipe.yml").write_text(text)
    cfg = parse_config(text, tmp_path / "crmpipe.yml")
    con = connect(None)
    path = tmp_path / "a.csv"
    _aged(path, "id,name\n1,Ann\n")
    assert [r.status for r in ingest_source(con, cfg, "src", 1)] == ["loaded"]
    st = path.stat()
    path.write_text("id,name\n1,Bob\n")  # same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    assert [r.status for r in ingest_source(con, cfg, "src", 2)] == ["loaded"]
    assert len(reads) == 2
    names = con.execute('SELECT name FROM raw."src" ORDER BY _run_id').fetchall()
    assert names == [("Ann",), ("Bob",)]


def test_a_digest_taken_right_after_a_change_is_not_trusted(tmp_path: Path, reads) -> None:
    con = connect(None)
    path = tmp_path / "a.csv"
    path.write_text("id,name\n1,Ann\n")  # changed just now: hashed within the racy window
    first = digests.digest(con, path)
    assert digests.digest(con, path) == first
    assert reads == [path, path]
