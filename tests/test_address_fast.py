"""clean/address_fast.py: the SQL fast path gives exactly what the library path
(`parse_address`: usaddress + scourgify) gives, on every real address of the childcare sample
and on a generated sample of about 20k distinct values, and takes most of them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crmpipe.clean.address_fast import fast_path_sql
from crmpipe.clean.addresses import _COLUMNS, address_lookup, parse_address
from crmpipe.demo.datasets import shared_data_dir
from crmpipe.demo.datasets.childcare import generate_childcare

#: Every address column of the case's four files.
ADDRESS_COLUMNS = (
    ("source1.csv", "Address"),
    ("source2.csv", "Address1"),
    ("source2.csv", "Address2"),
    ("source3.csv", "Address"),
    ("salesforce_leads.csv", "street"),
)
SHARED = shared_data_dir()
REAL = SHARED / "childcare" if SHARED is not None else None
HAVE_REAL = REAL is not None and all((REAL / f).is_file() for f, _ in ADDRESS_COLUMNS)


def _values(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Table `v(raw)`: the distinct non-NULL addresses of the four files in `folder`."""
    selects = [
        f"SELECT \"{col}\" AS raw FROM read_csv('{folder / f}', all_varchar = true, "
        "header = true, ignore_errors = true)"
        for f, col in ADDRESS_COLUMNS
    ]
    con.execute(
        "CREATE OR REPLACE TABLE v AS SELECT DISTINCT raw FROM ("
        + " UNION ALL ".join(selects)
        + ") WHERE raw IS NOT NULL"
    )


def _library(raw: str) -> tuple[object, ...]:
    a = parse_address(raw)
    parts = tuple(getattr(a, name) if a else None for name, _ in _COLUMNS)
    return (*parts, a.ok if a else False, a.problem if a else "empty")


def _mismatches(con: duckdb.DuckDBPyConnection) -> tuple[int, int, list[str]]:
    """(values, values on the fast path, those where fast and library differ)."""
    total = con.execute("SELECT count(*) FROM v").fetchone()[0]
    fast = con.execute(fast_path_sql("v")).fetchall()
    bad = [f"{r[0]!r}: fast {r[1:]} library {_library(r[0])}" for r in fast
           if tuple(r[1:]) != _library(r[0])]  # fmt: skip
    return total, len(fast), bad


@pytest.mark.skipif(not HAVE_REAL, reason="real sample ../shared/data/childcare absent")
def test_fast_path_equals_the_library_on_every_real_address() -> None:
    assert REAL is not None
    con = duckdb.connect()
    _values(con, REAL)
    total, fast, bad = _mismatches(con)
    assert total > 100 and fast > total // 2
    assert bad == []


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("addresses")
    generate_childcare(folder, facilities=20_000, seed=11)
    return folder


def test_fast_path_equals_the_library_on_20k_generated_addresses(generated: Path) -> None:
    con = duckdb.connect()
    _values(con, generated)
    total, fast, bad = _mismatches(con)
    assert total >= 20_000
    assert fast >= 0.85 * total  # the common shapes are most of them
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


def test_lookup_equals_the_library_for_every_value(generated: Path) -> None:
    """Fast path, library rest and the cache together: each value as `parse_address` gives it,
    and a second lookup of the same values (another feed) answers from the cache."""
    con = duckdb.connect()
    _values(con, generated)
    con.execute("CREATE TABLE sample AS SELECT raw FROM v ORDER BY hash(raw) LIMIT 3000")
    con.execute(
        "INSERT INTO sample VALUES ('N/A'), ('STE 5'), ('150 N. WILLOW ST MESQUITE, NV 89027')"
    )
    assert address_lookup(con, "SELECT raw FROM sample", "lk") == 3003
    for raw, *parts in con.execute("SELECT * FROM lk").fetchall():
        assert tuple(parts) == _library(raw), raw
    assert address_lookup(con, "SELECT raw FROM sample LIMIT 10", "lk2") == 10


def test_fast_path_equals_the_library_on_mover_addresses(tmp_path: Path) -> None:
    """The mover case's customer and job addresses, full state names (`Raleigh, North
    Carolina 27687`) among them: equal to the library, and nearly all on the fast path."""
    from crmpipe.demo.datasets.movers import generate

    generate(tmp_path, customers=1_500, branches=8, seed=5)
    con = duckdb.connect()
    data = tmp_path / "data"
    con.execute(
        "CREATE TABLE v AS SELECT DISTINCT raw FROM ("
        f"SELECT Address AS raw FROM read_csv('{data}/customers_*.csv', all_varchar = true, "
        "ignore_errors = true) UNION ALL "
        f'SELECT unnest(["Origin Address", "Destination Address"]) FROM read_csv('
        f"'{data}/jobs_*.csv', all_varchar = true, ignore_errors = true)) WHERE raw IS NOT NULL"
    )
    full_states = con.execute(
        "SELECT count(*) FROM v WHERE regexp_matches(upper(raw), ', [A-Z]{3,}( [A-Z]+)? [0-9]{5}$')"
    ).fetchone()[0]
    total, fast, bad = _mismatches(con)
    assert full_states > 100
    assert fast >= 0.95 * total
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


PLACES = SHARED / "pursuit" / "places.csv" if SHARED is not None else None


@pytest.mark.skipif(
    PLACES is None or not PLACES.is_file(), reason="real sample ../shared/data/pursuit absent"
)
def test_fast_path_equals_the_library_on_every_real_place_address() -> None:
    """The public-sector places' one-field addresses (`101 E Washington St, Abbeville, AL
    36310, USA`, `Abbeville, SC 29620, USA`): a comma before the city, `, USA` after the ZIP,
    places without a street line. Equal to the library, and most of them on the fast path."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE v AS SELECT DISTINCT address AS raw FROM read_csv("
        f"'{PLACES}', all_varchar = true) WHERE address IS NOT NULL"
    )
    total, fast, bad = _mismatches(con)
    assert total > 500 and fast >= 0.6 * total
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


def test_fast_path_equals_the_library_on_generated_place_addresses(tmp_path: Path) -> None:
    """The generated public-sector entities (the 4.5M benchmark's 135k distinct addresses
    were checked the same way: 88% on the fast path, none differing)."""
    from crmpipe.demo.datasets.pursuit import generate

    generate(tmp_path, contacts=30_000, entities=8_000, seed=3, shared=None)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE v AS SELECT DISTINCT address AS raw FROM read_csv("
        f"'{tmp_path / 'entities.csv'}', all_varchar = true) WHERE address IS NOT NULL"
    )
    no_street = con.execute(
        "SELECT count(*) FROM v WHERE NOT regexp_matches(raw, '^[0-9]')"
    ).fetchone()[0]
    total, fast, bad = _mismatches(con)
    assert total > 5_000 and no_street > 100
    assert fast >= 0.8 * total
    assert bad == [], f"{len(bad)} differ, e.g. {bad[:5]}"


def test_fast_path_takes_every_full_state_name() -> None:
    """Each state's full name in a few shapes: on the fast path, abbreviated as scourgify
    does it."""
    from crmpipe.clean.address_fast import FULL_STATES

    shapes = (("Dallas", "150 N. Willow St"), ("New York", "12 Oak Ave #4"),
              ("EL PASO", "8557 111th Pl Suite 51"))  # fmt: skip
    values = [
        f"{street} {city}, {spelt} 78768"
        for name in FULL_STATES
        for spelt in (name, name.title())
        for city, street in shapes
    ]
    con = duckdb.connect()
    con.execute("CREATE TABLE v AS SELECT DISTINCT unnest(?::VARCHAR[]) AS raw", [values])
    total, fast, bad = _mismatches(con)
    assert total == len(values)
    assert fast == total, f"{total - fast} values left to the library"
    assert bad == []
