"""clean/people.py's SQL fast path (`fast_people_sql`): the plain shapes (`First Last`,
`LAST, FIRST`, with role lines) split exactly as `split_people` (nameparser) splits them, on
every real contact value of the childcare sample and on ~20k generated ones; and
`people_lookup` (fast path plus library) equals `split_people` value by value."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crmpipe.clean.people import fast_people_sql, people_lookup, split_people
from crmpipe.demo.datasets import shared_data_dir
from crmpipe.demo.datasets.childcare import generate_childcare

NAME_COLUMNS = (("source1.csv", "Primary Contact Name"), ("source2.csv", "Primary Caregiver"))
SHARED = shared_data_dir()
REAL = SHARED / "childcare" if SHARED is not None else None
HAVE_REAL = REAL is not None and all((REAL / f).is_file() for f, _ in NAME_COLUMNS)
#: Hand-made values around the fast path's edges (each must equal the library either way).
EDGES = (
    "John Smith", "HELLSTROM, ELIZABETH", "ELIZABETH BISHOP", "JOHN MCDONALD", "Ana Machado",
    "JOHN DE", "ANNE VAN", "DR SMITH", "JOHN JR", "Kids Academy", "THE GROWING", "Mary Ellen",
    "Amanda Krueger\n \n Director", "Amanda Krueger\n \n Primary Caregiver", "JO LI",
    "Amanda Krueger\n \n Chief", "N/A", "none listed", "Joe  Smith", " Joe Smith", "Joe Smith ",
    "O'Brien Kelly", "JOSÉ GARCÍA", "A B", "SMITH, JR", "TANIA & NICOLE PINEDA & POBLETE",
    "Kathryn Bennett Director", "Dominic Davis Primary Caregiver", "MARY ANN VAN DYKE",
    "John Paul Smith Jr", "Anna Maria De La Cruz", "Pastor John Smith", "John Smith Owner",
    "ARGIE, NELLY REYES, ARROYO", "JOHN & JOHN SMITH & SMITH", "Ana and Eva Diaz and Cruz",
    "ERIC MCMAHON", "Mackenzie Rhodes", "MACY GRAY", "MACEY STONE", "JOHN MACK", "MC SMITH",
    "MAC SMITH", "Jennifer Mcguire\n \n Director", "DR & ANA SMITH & CRUZ", "JO & AL LI & WU",
    "TANIA & NICOLE PINEDA AND POBLETE", "ANA, EVA DIAZ, THE", "MARY & JOHN DBA & SONS",
    "MICHAEL KING", "JOHN DR", "ANA MRS", "KING, MICHAEL", "SMITH, DR", "MARY MS", "KING MICHAEL",
    "ANNA AND AIMEE ORTIZ AND KING", "KING & ANA ORTIZ & CRUZ", "ANA & DR ORTIZ & CRUZ",
    "Harold Goodman\n \n Director", "JOHN KING SMITH", "DR JOHN SMITH",
    "DR, JOHN", "ANA & EVA DR & CRUZ", "ANA & EVA CRUZ & PASTOR",
)  # fmt: skip


def _values(con: duckdb.DuckDBPyConnection, folder: Path | None) -> None:
    con.execute("CREATE OR REPLACE TABLE v (raw VARCHAR)")
    if folder is not None:
        for f, col in NAME_COLUMNS:
            con.execute(
                f"INSERT INTO v SELECT DISTINCT \"{col}\" FROM read_csv('{folder / f}', "
                "all_varchar = true, header = true, ignore_errors = true) "
                f'WHERE "{col}" IS NOT NULL AND "{col}" NOT IN (SELECT raw FROM v)'
            )
        # as the pipeline's cleaning hands them over: whitespace (line breaks too) squashed
        con.execute(
            "INSERT INTO v SELECT DISTINCT trim(regexp_replace(raw, '\\s+', ' ', 'g')) FROM v "
            "EXCEPT SELECT raw FROM v"
        )


def _library(raw: str) -> list[tuple[object, ...]]:
    return [(p.ordinal, p.first_name, p.last_name, p.full_name) for p in split_people(raw)]


def _check(con: duckdb.DuckDBPyConnection) -> tuple[int, int, list[str]]:
    total = con.execute("SELECT count(*) FROM v").fetchone()[0]
    got: dict[str, list[tuple[object, ...]]] = {}
    for raw, *person in con.execute(
        f"SELECT * FROM ({fast_people_sql('v')}) ORDER BY raw, ordinal"
    ).fetchall():
        got.setdefault(raw, []).append(tuple(person))
    bad = [f"{raw!r}: fast {people} library {_library(raw)}" for raw, people in got.items()
           if people != _library(raw)]  # fmt: skip
    return total, len(got), bad


def test_fast_path_edges() -> None:
    con = duckdb.connect()
    _values(con, None)
    con.execute("INSERT INTO v SELECT unnest(?::VARCHAR[])", [list(EDGES)])
    total, fast, bad = _check(con)
    assert bad == [] and 0 < fast < total


@pytest.mark.skipif(not HAVE_REAL, reason="real sample ../shared/data/childcare absent")
def test_fast_path_equals_the_library_on_every_real_name() -> None:
    con = duckdb.connect()
    _values(con, REAL)
    total, fast, bad = _check(con)
    assert total > 50 and fast > total // 2
    assert bad == []


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("people")
    generate_childcare(folder, facilities=36_000, seed=5)
    return folder


def test_fast_path_equals_the_library_on_20k_generated_names(generated: Path) -> None:
    con = duckdb.connect()
    _values(con, generated)
    total, fast, bad = _check(con)
    assert total >= 20_000
    assert fast >= 0.85 * total
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


def test_lookup_equals_the_library_for_every_value(generated: Path) -> None:
    con = duckdb.connect()
    _values(con, generated)
    con.execute("CREATE TABLE sample AS SELECT raw FROM v ORDER BY hash(raw) LIMIT 3000")
    con.execute("INSERT INTO sample SELECT unnest(?::VARCHAR[])", [list(EDGES)])
    people_lookup(con, "SELECT raw FROM sample", "lk")
    got: dict[str, list[tuple[object, ...]]] = {}
    for raw, *person in con.execute("SELECT * FROM lk ORDER BY raw, ordinal").fetchall():
        got.setdefault(raw, []).append(tuple(person))
    for (raw,) in con.execute("SELECT DISTINCT raw FROM sample").fetchall():
        assert got.get(raw, []) == _library(raw), raw
