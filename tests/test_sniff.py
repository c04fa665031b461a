"""crmpipe.ingest.sniff: dialects decided on small files for each case, and on real samples."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpipe.config.schema import FormatSpec
from crmpipe.ingest.sniff import DELIMITERS, Dialect, SniffError, read_records, sniff
from support.shared import shared_folder


def write(tmp_path: Path, data: bytes | str, name: str = "f.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return p


def test_plain_comma_utf8(tmp_path: Path) -> None:
    d = sniff(write(tmp_path, "a,b,c\n1,2,3\n4,5,6\n"))
    assert d == Dialect(",", '"', '"', "utf-8", False, "\n", ["a", "b", "c"], True)


def test_utf8_bom_is_stripped_from_the_header(tmp_path: Path) -> None:
    d = sniff(write(tmp_path, codecs.BOM_UTF8 + b"sfdc_id,place_id\r\n1,abc\r\n"))
    assert (d.encoding, d.has_bom, d.header) == ("utf-8", True, ["sfdc_id", "place_id"])
    assert d.newline == "\r\n"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_bom(tmp_path: Path, encoding: str) -> None:
    text = "name;city\nMüller;Köln\n"
    raw = (
        text.encode(encoding)
        if encoding == "utf-16"
        else codecs.BOM_UTF16_BE + text.encode(encoding)
    )
    d = sniff(write(tmp_path, raw))
    assert (d.encoding, d.has_bom, d.delimiter, d.header) == ("utf-16", True, ";", ["name", "city"])


def test_latin1_file(tmp_path: Path) -> None:
    p = write(tmp_path, "name,city\nMüller,Köln\nGarçon,Orléans\n".encode("latin-1"))
    d = sniff(p)
    assert d.encoding == "latin-1"
    # The dialect really reads the file: DuckDB gets the umlaut right.
    rows = duckdb.sql(
        f"select name from read_csv('{p}', delim=',', quote='\"', escape='\"', "
        f"encoding='{d.encoding}', header=true, all_varchar=true)"
    ).fetchall()
    assert rows[0] == ("Müller",)


def test_latin1_header_only_accent(tmp_path: Path) -> None:
    d = sniff(write(tmp_path, "Straße,Nr\nA,1\n".encode("latin-1")))
    assert d.encoding == "latin-1" and d.header == ["Straße", "Nr"]


def test_utf8_with_one_bad_byte_line_stays_utf8(tmp_path: Path) -> None:
    good = "".join(f"José {i},Zürich,ok\n" for i in range(50))
    raw = b"name,city,status\n" + good.encode() + b"Bad \xff byte,Bern,ok\n" + good.encode()
    assert sniff(write(tmp_path, raw)).encoding == "utf-8"


def test_one_bad_line_in_a_large_ascii_file_stays_utf8(tmp_path: Path) -> None:
    # ~570 KB of ASCII and one line written as Windows-1252 (the generated contacts do this):
    # under a handful per MB, so UTF-8 — the loader rejects that line loudly, rather than a
    # Latin-1 guess garbling any UTF-8 further on.
    rows = "".join(f"c{i:07d},Ann,Lee,ann{i}@city.gov\n" for i in range(18000)).encode()
    raw = b"id,first,last,email\n" + rows + "c9,Inés,Ro,x@y.gov\n".encode("cp1252") + rows
    d = sniff(write(tmp_path, raw), sample_bytes=len(raw))
    assert d.encoding == "utf-8"
    # In a small file the same single accent is frequent: Latin-1.
    small = b"id,first\n" + b"c1,Ann\n" * 1000 + "c9,Inés\n".encode("cp1252")
    assert sniff(write(tmp_path, small, "small.csv")).encoding == "latin-1"


def test_many_bad_bytes_mean_latin1_even_with_some_valid_utf8(tmp_path: Path) -> None:
    # A mostly Latin-1 file in which a couple of byte pairs happen to be valid UTF-8.
    rows = "".join(f"M\xfcller {i},K\xf6ln\n" for i in range(100)).encode("latin-1")
    raw = b"name,city\n" + "Zoë,Zürich\n".encode() + rows
    assert sniff(write(tmp_path, raw)).encoding == "latin-1"


def test_sample_end_does_not_cut_a_multibyte_char(tmp_path: Path) -> None:
    # The sample ends inside the file's only non-ASCII character. Counted as a bad byte, it
    # would make an ASCII-only sample "not UTF-8, no valid multi-byte sequence": Latin-1.
    raw = ("name,city\n" + "Smith,Bonn\n" * 200 + "Müller,Köln\n").encode()
    cut = raw.index("ü".encode()) + 1
    d = sniff(write(tmp_path, raw), sample_bytes=cut)
    assert d.encoding == "utf-8"


def test_only_the_sample_is_read(tmp_path: Path) -> None:
    # After the sample, the file turns into something else entirely: it must not matter.
    raw = ("a|b|c\n" + "1|2|3\n" * 100).encode() + b"\xff\xfe,,,,,,\n" * 1000
    d = sniff(write(tmp_path, raw), sample_bytes=400)
    assert (d.delimiter, d.encoding) == ("|", "utf-8")


@pytest.mark.parametrize("delim", [";", "|", "\t", ","])
def test_delimiters(tmp_path: Path, delim: str) -> None:
    rows = [["id", "name", "note"], ["1", "Ann", "x, y; z | w"], ["2", "Bob", ""]]
    quoted = [[f'"{c}"' if " " in c else c for c in r] for r in rows]
    text = "".join(delim.join(r) + "\n" for r in quoted)
    d = sniff(write(tmp_path, text))
    assert d.delimiter == delim
    assert d.header == ["id", "name", "note"]


def test_tab_file_whose_text_has_commas(tmp_path: Path) -> None:
    text = "name\tcity\n" + "".join(f"P{i}\tAustin, TX\n" for i in range(20))
    assert sniff(write(tmp_path, text, "f.tsv")).delimiter == "\t"


def test_quoted_delimiters_inside_fields(tmp_path: Path) -> None:
    text = (
        'name,address,zip\n"Smith, Ann","1 Main St, Springfield",12345\n"Doe, J","2 Elm, X",23456\n'
    )
    d = sniff(write(tmp_path, text))
    assert d.delimiter == "," and d.header == ["name", "address", "zip"]


def test_quoted_multiline_fields(tmp_path: Path) -> None:
    # Each record spans three lines and has a ';' in its text: comma must still win.
    rec = '{i},"Jane Doe\n \n Primary Caregiver; lead","(209) 747-1797"\n'
    text = "id,caregiver,phone\n" + "".join(rec.format(i=i) for i in range(30))
    d = sniff(write(tmp_path, text))
    assert d.delimiter == "," and d.header == ["id", "caregiver", "phone"]
    records = read_records(write(tmp_path, text), d)
    assert len(records) == 30 and records[0][1].startswith("Jane Doe\n")


def test_crlf(tmp_path: Path) -> None:
    d = sniff(write(tmp_path, "a;b\r\n1;2\r\n3;4\r\n"))
    assert (d.delimiter, d.newline, d.header) == (";", "\r\n", ["a", "b"])


def test_header_whitespace_is_trimmed(tmp_path: Path) -> None:
    assert sniff(write(tmp_path, " a , b\n1,2\n")).header == ["a", "b"]


def test_tie_goes_to_comma(tmp_path: Path) -> None:
    assert sniff(write(tmp_path, "a,b;c\n1,2;3\n")).delimiter == ","


def test_single_quote_files(tmp_path: Path) -> None:
    text = "'name','note'\n'Ann','a,b'\n'Bob','c,d'\n"
    d = sniff(write(tmp_path, text))
    assert (d.delimiter, d.quote, d.header) == (",", "'", ["name", "note"])


def test_apostrophes_are_not_quotes(tmp_path: Path) -> None:
    text = "name,city\nO'Brien,Coeur d'Alene\nD'Arcy,X\n"
    assert sniff(write(tmp_path, text)).quote == '"'


def test_backslash_escape(tmp_path: Path) -> None:
    text = 'id,quote\n1,"he said \\"hi\\""\n2,"\\"ok\\""\n'
    d = sniff(write(tmp_path, text))
    assert (d.escape, d.quote) == ("\\", '"')


def test_doubled_quotes_stay_the_escape(tmp_path: Path) -> None:
    text = 'id,name\n1,"K"" Street Learning Center LLC"""\n2,plain\n'
    assert sniff(write(tmp_path, text)).escape == '"'
    # A backslash before a doubled quote is still doubled quoting (found by hypothesis).
    text = 'id,path\n1,"C:\\dir\\"""\n2,"\\""x"\n'
    d = sniff(write(tmp_path, text))
    assert d.escape == '"'
    assert read_records(write(tmp_path, text), d) == [["1", 'C:\\dir\\"'], ["2", '\\"x']]


def test_last_cut_record_is_ignored(tmp_path: Path) -> None:
    text = "a,b,c\n" + "1,2,3\n" * 30 + '4,"long text, with; a | in it'
    p = write(tmp_path, text)
    d = sniff(p, sample_bytes=len(text.encode()) - 3)
    assert d.delimiter == ","
    assert all(r == ["1", "2", "3"] for r in read_records(p, d, sample_bytes=len(text) - 3))


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(SniffError, match=r"f\.csv: the file is empty"):
        sniff(write(tmp_path, b""))
    with pytest.raises(SniffError, match="empty"):
        sniff(write(tmp_path, "\n\n  \n"))


def test_no_header(tmp_path: Path) -> None:
    with pytest.raises(SniffError, match=r"looks like data.*format\.header: false"):
        sniff(write(tmp_path, "1,2,3\n4,5,6\n"))
    with pytest.raises(SniffError, match="looks like data"):
        sniff(write(tmp_path, "ann@x.com,2024-01-02,Ann\nbob@y.org,2024-02-03,Bob\n"))
    assert sniff(write(tmp_path, "name,2021,2022\nA,1,2\n")).header == ["name", "2021", "2022"]
    with pytest.raises(SniffError, match="no column names"):
        sniff(write(tmp_path, ",,\n1,2,3\n"))


def test_binary_file(tmp_path: Path) -> None:
    with pytest.raises(SniffError, match="NUL bytes"):
        sniff(write(tmp_path, b"PK\x03\x04\x00\x00\x00binary"))


def test_missing_file_is_a_sniff_error(tmp_path: Path) -> None:
    with pytest.raises(SniffError, match="cannot read"):
        sniff(tmp_path / "nope.csv")


def test_overrides_win(tmp_path: Path) -> None:
    p = write(tmp_path, "a,b;c\n1,2;3\n")
    d = sniff(p, overrides=FormatSpec(delimiter=";", encoding="latin1"))
    assert (d.delimiter, d.encoding, d.header) == (";", "latin-1", ["a,b", "c"])
    assert sniff(p, overrides=FormatSpec(delimiter="\\t")).delimiter == "\t"
    headerless = write(tmp_path, "1,2,3\n4,5,6\n", "h.csv")
    d = sniff(headerless, overrides=FormatSpec(header=False))
    assert d.header == ["column0", "column1", "column2"] and not d.has_header
    assert read_records(headerless, d) == [["1", "2", "3"], ["4", "5", "6"]]
    assert d.read_csv_options()["header"] is False
    assert d.format_spec().header is False


def test_format_spec_holds_only_what_differs(tmp_path: Path) -> None:
    d = sniff(write(tmp_path, b"a;b\n1;2\n"))
    assert d.format_spec().model_dump(exclude_defaults=True) == {"delimiter": ";"}
    latin = sniff(write(tmp_path, "a,b\nü,2\n".encode("latin-1")))
    assert latin.format_spec().model_dump(exclude_defaults=True) == {"encoding": "latin-1"}


def test_read_csv_options_read_the_file_with_duckdb(tmp_path: Path) -> None:
    p = write(tmp_path, 'id|name\r\n1|"Smith | Ann"\r\n2|Bob\r\n')
    d = sniff(p)
    rel = duckdb.read_csv(str(p), all_varchar=True, **d.python_read_csv_kwargs())
    assert rel.columns == d.header
    assert rel.fetchall() == [("1", "Smith | Ann"), ("2", "Bob")]
    opts = d.read_csv_options()
    named = ", ".join(f"{k} := ?" for k in opts)
    con = duckdb.connect()
    rows = con.execute(
        f"select * from read_csv(?, {named}, all_varchar := true)", [str(p), *opts.values()]
    ).fetchall()
    assert rows == [("1", "Smith | Ann"), ("2", "Bob")]


# --- the real shared samples --------------------------------------------------------------


def shared(path: str) -> Path:
    """A real sample file (`case/name.csv`) in the shared data folder; skips when absent."""
    case, name = path.split("/", 1)
    return shared_folder(case) / name


def test_real_pursuit_places() -> None:
    d = sniff(shared("pursuit/places.csv"))
    assert (d.delimiter, d.encoding, d.has_bom, d.newline) == (",", "utf-8", False, "\r\n")
    assert d.header[:3] == ["place_id", "state_abbr", "lat"] and len(d.header) == 12


@pytest.mark.parametrize("name,first", [("crma", "sfdc_id"), ("crmb", "hubspot_id")])
def test_real_pursuit_mappings_have_a_bom(name: str, first: str) -> None:
    d = sniff(shared(f"pursuit/{name}.csv"))
    assert d.has_bom and d.encoding == "utf-8" and d.header == [first, "place_id"]


def test_real_pursuit_techstacks() -> None:
    assert sniff(shared("pursuit/techstacks.csv")).header == ["name", "place_id", "type"]


def test_real_childcare_multiline_source2() -> None:
    p = shared("childcare/source2.csv")
    d = sniff(p)
    assert d.delimiter == "," and len(d.header) == 30 and d.header[1] == "Company"
    records = read_records(p, d)
    assert all(len(r) == 30 for r in records)
    assert "\n" in records[0][13]  # "Elizabeth Hellstrom\n \n Primary Caregiver"


def test_real_childcare_source3_broken_quoting() -> None:
    p = shared("childcare/source3.csv")
    d = sniff(p)
    assert (d.delimiter, d.quote, d.escape) == (",", '"', '"')
    assert d.header[0] == "Operation" and len(d.header) == 20
    # With the dialect pinned, DuckDB reads every line (its own sniffer is what gets fooled).
    rel = duckdb.read_csv(str(p), all_varchar=True, **d.python_read_csv_kwargs())
    assert len(rel.fetchall()) == 29


def test_real_pipedrive_files() -> None:
    for p in sorted(shared_folder("pipedrive").glob("*.csv")):
        d = sniff(p)
        assert d.delimiter == "," and d.encoding == "utf-8", p


# --- properties -------------------------------------------------------------------------------

_cell = st.text(alphabet=st.sampled_from(list("ab ,;|\t\"'\nüé1")), max_size=8)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    delim=st.sampled_from(list(DELIMITERS)),
    width=st.integers(2, 5),
    rows=st.lists(st.lists(_cell, min_size=5, max_size=5), min_size=1, max_size=8),
    crlf=st.booleans(),
)
def test_any_csv_writer_output_is_sniffed_right(
    tmp_path: Path, delim: str, width: int, rows: list[list[str]], crlf: bool
) -> None:
    """Whatever the cells hold (delimiters, quotes, newlines), the writer's dialect comes back."""
    header = [f"col{i}" for i in range(width)]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delim, lineterminator="\r\n" if crlf else "\n")
    writer.writerow(header)
    writer.writerows(r[:width] for r in rows)
    p = write(tmp_path, buf.getvalue(), "prop.csv")
    d = sniff(p)
    assert (d.delimiter, d.quote, d.encoding, d.header) == (delim, '"', "utf-8", header)
    assert d.newline == ("\r\n" if crlf else "\n")
    assert read_records(p, d) == [r[:width] for r in rows]
