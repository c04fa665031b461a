"""The reusable mess helpers of crmpipe.demo.datasets: code draws, SQL renderers, the line writer
and malformed lines."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmpipe.demo.datasets import mess as m


def test_draw_codes_rates() -> None:
    rng = np.random.default_rng(0)
    codes = m.draw_codes(rng, 200_000, [0.05, 0.01])
    assert codes.dtype == np.int8
    assert abs((codes == 1).mean() - 0.05) < 0.003
    assert abs((codes == 2).mean() - 0.01) < 0.002
    assert set(np.unique(codes)) == {0, 1, 2}
    with pytest.raises(ValueError):
        m.draw_codes(rng, 10, [0.7, 0.7])


def test_draw_choice_follows_probabilities() -> None:
    idx = m.draw_choice(np.random.default_rng(1), 100_000, np.array([1.0, 3.0, 0.0, 6.0]))
    shares = np.bincount(idx, minlength=4) / idx.size
    assert np.allclose(shares, [0.1, 0.3, 0.0, 0.6], atol=0.01)


def test_arrow_helpers_round_trip_through_duckdb() -> None:
    table = m.arrow_table(
        {
            "i": np.array([1, 2, 3], np.int16),
            "b": np.array([True, False, True]),
            "n": m.arrow_column(np.array([7, 8, 9], np.int32), mask=np.array([False, True, False])),
            "s": m.dictionary_column(np.array([1, 0, 1]), ["zéro", "one"]),
        }
    )
    con = duckdb.connect()
    con.register("t", table)
    assert con.execute("SELECT * FROM t").fetchall() == [
        (1, True, 7, "one"),
        (2, False, None, "zéro"),
        (3, True, 9, "one"),
    ]


def render(sql_expr: str, **cols: list) -> list:
    """Evaluate a renderer over a small table (built without pa.table: no pandas import)."""
    arrays = {}
    for name, values in cols.items():
        if isinstance(values[0], str):
            arrays[name] = m.arrow_strings(values)
        else:
            arr = np.array([0 if x is None else x for x in values], np.int64)
            arrays[name] = m.arrow_column(arr, mask=np.array([x is None for x in values]))
    con = duckdb.connect()
    con.register("t", m.arrow_table(arrays))
    return [r[0] for r in con.execute(f"SELECT {sql_expr} FROM t").fetchall()]


def test_phone_layouts_all_hold_the_same_number() -> None:
    n = len(m.PHONE_FORMATS)
    shown = render(
        m.sql_phone("a", "e", "l", "f"), a=[212] * n, e=[555] * n, l=[42] * n, f=list(range(n))
    )
    assert len(set(shown)) == n
    for s in shown:
        digits = re.sub(r"\D", "", s)
        assert digits[-10:] == "2125550042" and digits[:-10] in ("", "1"), s
    assert render(m.sql_phone_e164("a", "e", "l"), a=[212], e=[555], l=[42]) == ["+12125550042"]
    ext = render(m.sql_extension("x", "f"), x=[12, None], f=[1, 0])
    assert ext == [" ext. 12", ""]


def test_timestamps_and_truth() -> None:
    n = len(m.DATE_FORMATS)
    epoch = 1_706_689_500  # 2024-01-31 08:25:00 UTC
    shown = render(m.sql_timestamp_text("e", "f"), e=[epoch] * n, f=list(range(n)))
    assert shown == [
        "2024-01-31 08:25:00",
        "2024-01-31",
        "2024-01-31T08:25:00",
        "1/31/2024",
        "1/31/24",
        str(epoch),
    ]
    truth = render(m.sql_timestamp_truth("e", "f"), e=[epoch] * n, f=list(range(n)))
    assert truth == [
        "2024-01-31T08:25:00",
        "2024-01-31T00:00:00",
        "2024-01-31T08:25:00",
        "2024-01-31T00:00:00",
        "2024-01-31T00:00:00",
        "2024-01-31T08:25:00",
    ]


def test_noise_renderers() -> None:
    x = ["Finance Director"] * 5
    assert render(m.sql_case_noise("x", "c"), x=x, c=[0, 1, 2, 3, 0]) == [
        "Finance Director",
        "FINANCE DIRECTOR",
        "finance director",
        "Finance director",
        "Finance Director",
    ]
    assert render(m.sql_ws_noise("x", "c"), x=x, c=[0, 1, 2, 3, 4]) == [
        "Finance Director",
        "  Finance Director  ",
        "Finance Director ",
        " Finance Director",
        "Finance  Director",
    ]
    assert render(m.sql_null("x", "c"), x=x[:3], c=[0, 1, 2]) == ["Finance Director", "", "N/A"]


def test_csv_line_quotes_only_when_needed() -> None:
    line = render(
        m.sql_csv_line(["a", "b", "c"], eol="\r\n"), a=["x"], b=['say "hi", bob'], c=["plain"]
    )[0]
    assert line == 'x,"say ""hi"", bob",plain\r\n'
    assert next(csv.reader([line])) == ["x", 'say "hi", bob', "plain"]


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.text(alphabet='ab,"é', max_size=5), max_size=30), data=st.data())
def test_line_writer_selects_and_replaces(
    tmp_path_factory: pytest.TempPathFactory, rows: list[str], data: st.DataObject
) -> None:
    lines = [f"{r}|{i}\n" for i, r in enumerate(rows)]
    select = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows))), dtype=bool
    )
    kept = [ln for ln, s in zip(lines, select, strict=True) if s]
    repl_rows = (
        data.draw(st.sets(st.integers(0, max(0, len(kept) - 1)), max_size=3)) if kept else set()
    )
    repl = {r: b"BAD\xe9\n" for r in repl_rows}
    path = tmp_path_factory.mktemp("w") / "out.csv"
    with m.LineWriter(path, "h", replacements=repl) as w:
        split = len(lines) // 2  # two batches, the second one sliced
        arr = m.arrow_strings(lines)
        w.write(arr.slice(0, split), select[:split])
        w.write(arr.slice(split), select[split:])
        assert w.close() == len(kept)
    expected = b"h\n" + b"".join(repl.get(i, ln.encode()) for i, ln in enumerate(kept))
    assert path.read_bytes() == expected


def test_malformed_lines(tmp_path: Path) -> None:
    fields = ["c1", "p1", "Ann", "Lee", "a@x.gov; b@x.gov", "(212) 555-0142", "Clerk", "Admin", ""]
    many = m.malformed_line("too_many_fields", fields, index=0)
    assert len(next(csv.reader([many.decode()]))) == 10
    few = m.malformed_line("too_few_fields", fields, index=0)
    assert len(next(csv.reader([few.decode()]))) == 5
    bad = m.malformed_line("invalid_utf8", fields, index=0)
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    assert next(csv.reader([bad.decode("cp1252")]))[2] == m.LATIN1_NAMES[0]
    assert all(line.count(b'"') % 2 == 0 for line in (many, few, bad))
