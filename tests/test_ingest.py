"""Ingest of real-world CSV mess into raw tables: nothing lost, nothing loaded twice."""

from pathlib import Path

import pytest

from crmpipe.config.load import parse_config
from crmpipe.ingest.read import IngestError, ingest_source, source_files
from crmpipe.warehouse.connection import connect, table_columns


def _project(folder: Path, path: str = "*.csv", fmt: str = "") -> tuple:
    text = f"sources:\n  src:\n    path: '{path}'\n    table: contacts\n{fmt}"
    (folder / "crmpipe.yml").write_text(text)
    cfg = parse_config(text, folder / "crmpipe.yml")
    return cfg, connect(None)


def _raw(con, order="_file, _row"):
    return con.execute(
        f"SELECT * EXCLUDE (_source, _file, _file_mtime, _file_hash, _run_id, "
        f'_loaded_at) FROM raw."src" ORDER BY {order}'
    ).fetchall()


def test_malformed_lines_are_rejected_with_line_and_message_rest_loads(tmp_path):
    (tmp_path / "a.csv").write_bytes(
        "id,name,email\n1,Zoë,a@x.gov\n".encode() + b"2,Bob\n3,Cy,c@x.gov,extra\n"
        b'4,"Dee\nDoe",d@x.gov\n5,Ed\xff\xfe,e@x.gov\n6,Flo,f@x.gov\n'
    )
    cfg, con = _project(tmp_path)
    [res] = ingest_source(con, cfg, "src", run_id=1)
    # 6 records: 3 loaded (one of them spans two lines), 3 rejected; the file is UTF-8 (Zoë),
    # so the line with invalid bytes is a bad line, not a sign of Latin-1
    assert (res.rows_loaded, res.rows_rejected) == (3, 3)
    assert res.rows_read == 6
    assert [r[1:] for r in _raw(con)] == [
        ("1", "Zoë", "a@x.gov"),
        ("4", "Dee\nDoe", "d@x.gov"),
        ("6", "Flo", "f@x.gov"),
    ]
    rejects = con.execute(
        "SELECT line, error_type, message FROM meta.rejects ORDER BY line"
    ).fetchall()
    assert [(r[0], r[1]) for r in rejects] == [
        (3, "MISSING COLUMNS"),
        (4, "TOO MANY COLUMNS"),
        (7, "INVALID ENCODING"),
    ]
    assert all(r[2] for r in rejects)
    manifest = con.execute("SELECT rows_loaded, rows_rejected FROM meta.manifest").fetchall()
    assert manifest == [(3, 3)]


def test_broken_quoting_is_rejected_not_swallowing_the_file(tmp_path):
    rows = [f"{i},name{i},n{i}@x.gov" for i in range(1, 50)]
    rows[10] = '11,"broken"quote",n11@x.gov'
    (tmp_path / "q.csv").write_text("id,name,email\n" + "\n".join(rows) + "\n")
    cfg, con = _project(tmp_path)
    [res] = ingest_source(con, cfg, "src", run_id=1)
    assert res.rows_read == 49
    assert res.rows_loaded >= 48
    assert res.rows_loaded + res.rows_rejected == 49


@pytest.mark.parametrize(
    ("content", "expected_name"),
    [
        ("\ufeffid,name\r\n1,Zoë\r\n".encode(), "Zoë"),  # UTF-8 BOM + CRLF
        ("id;name\n1;Müller\n".encode("latin-1"), "Müller"),  # Latin-1, semicolons
        (b"id|name\n1|Ann|\n"[:-2] + b"\n", "Ann"),  # pipes
        (b"id\tname\n1\tAnn\n", "Ann"),  # tabs
        (b'id,name\n1,"Smith, Ann ""Annie"""\n', 'Smith, Ann "Annie"'),  # quoted delimiter
    ],
)
def test_encodings_and_delimiters(tmp_path, content, expected_name):
    (tmp_path / "f.csv").write_bytes(content)
    cfg, con = _project(tmp_path)
    [res] = ingest_source(con, cfg, "src", run_id=1)
    assert res.rows_loaded == 1 and res.rows_rejected == 0
    assert table_columns(con, "raw", "src")[-2:] == ["id", "name"]
    assert _raw(con) == [(1, "1", expected_name)]


def test_same_file_twice_is_skipped(tmp_path):
    (tmp_path / "a.csv").write_text("id,name\n1,Ann\n")
    cfg, con = _project(tmp_path)
    assert ingest_source(con, cfg, "src", 1)[0].status == "loaded"
    assert ingest_source(con, cfg, "src", 2)[0].status == "skipped"
    # a copy under another name with the same bytes is the same content: skipped too
    (tmp_path / "b.csv").write_text("id,name\n1,Ann\n")
    assert [r.status for r in ingest_source(con, cfg, "src", 3)] == ["skipped", "skipped"]
    assert con.execute('SELECT count(*) FROM raw."src"').fetchone()[0] == 1


def test_new_column_in_later_file_is_added_and_recorded(tmp_path):
    (tmp_path / "a.csv").write_text("id,name\n1,Ann\n")
    cfg, con = _project(tmp_path)
    ingest_source(con, cfg, "src", 1)
    (tmp_path / "b.csv").write_text("id,name,phone\n2,Bob,212-555-0142\n")
    results = ingest_source(con, cfg, "src", 2)
    assert [r.status for r in results] == ["skipped", "loaded"]
    assert results[1].added_columns == ["phone"]
    assert _raw(con) == [(1, "1", "Ann", None), (1, "2", "Bob", "212-555-0142")]
    assert con.execute(
        "SELECT change, column_name, run_id FROM meta.schema_changes"
    ).fetchall() == [("added_column", "phone", 2)]
    # a later file without the column loads with NULLs and the gap is recorded
    (tmp_path / "c.csv").write_text("id,name\n3,Cy\n")
    ingest_source(con, cfg, "src", 3)
    assert ("missing_column", "phone", 3) in con.execute(
        "SELECT change, column_name, run_id FROM meta.schema_changes"
    ).fetchall()


def test_delimiter_set_in_config_wins(tmp_path):
    (tmp_path / "a.csv").write_text("id,name;x\n1,Ann;y\n")
    cfg, con = _project(tmp_path, fmt="    format: {delimiter: ';'}\n")
    [res] = ingest_source(con, cfg, "src", 1)
    assert table_columns(con, "raw", "src")[-2:] == ["id,name", "x"]
    assert res.rows_loaded == 1


def test_no_matching_files_is_a_one_line_error(tmp_path):
    cfg, _ = _project(tmp_path, path="nothing*.csv")
    with pytest.raises(IngestError, match=r"sources.src.path: no files match 'nothing\*.csv'"):
        source_files(cfg, "src", cfg.sources["src"])


def test_rows_are_numbered_in_file_order_across_a_parallel_scan_and_an_append(tmp_path):
    """`_row` is the record's number in its file (a quoted multi-line record counted once, a
    rejected one counted): the files are big enough for DuckDB to scan them on several threads,
    and the second is appended to the first's raw table (ingest/read.py's `_number`)."""
    con_threads = 4
    for name, count in (("a.csv", 60_000), ("b.csv", 250_000)):
        lines = ["id,name,note"]
        for i in range(1, count + 1):
            note = f'"line one\nline {i}"' if i % 997 == 0 else f"n{i:0>60}"
            lines.append(f"{i},name{i},{note}" + (",extra" if i == 123_457 else ""))
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    cfg, con = _project(tmp_path)
    con.execute(f"SET threads = {con_threads}")
    results = ingest_source(con, cfg, "src", run_id=1)
    assert [(r.rows_loaded, r.rows_rejected) for r in results] == [(60_000, 0), (249_999, 1)]
    wrong = con.execute(
        'SELECT _file, count(*) FROM raw."src" WHERE _row <> CAST(id AS BIGINT) GROUP BY 1'
    ).fetchall()
    assert wrong == []
    assert (
        con.execute("SELECT count(*) FROM raw.\"src\" WHERE note LIKE 'line one%'").fetchone()[0]
        == 60 + 250
    )
