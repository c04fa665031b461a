"""Facility features and the Splink guard (resolution/facilities.py), on hand-made values:
person-named home daycares compare as one name, and a link the addresses can't back needs the
same phone."""

from __future__ import annotations

import duckdb

from crmpipe.resolution.facilities import facility_blocking, feature_select, splink_guard


def _features(names: list[str]) -> dict[str, str | None]:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE r (_rid BIGINT, id VARCHAR, display_name VARCHAR, address VARCHAR, "
        "city VARCHAR, state VARCHAR, postal_code VARCHAR, phone VARCHAR)"
    )
    con.executemany(
        "INSERT INTO r VALUES (?, ?, ?, NULL, NULL, NULL, NULL, NULL)",
        [(i, str(i), n) for i, n in enumerate(names)],
    )
    rows = con.execute(
        f"SELECT id, facility_name FROM ({feature_select('r', 'id', raw_phone=False)})"
    ).fetchall()
    return {names[int(i)]: name for i, name in rows}


def test_person_named_facilities_compare_as_first_last() -> None:
    f = _features(
        [
            "NICHOLS, DENISE",
            "Denise Nichols Home Daycare",
            "DENISE NICHOLS",
            "Denise Nichols Family Child Care",
            "MARTIN, TYLER DBA GROWING WONDERS MONTESSORI L.L.C.",
            "Growing Wonders Montessori",
            "Sunshine Home Daycare",
            "Home Daycare",
        ]
    )
    assert {f[n] for n in list(f)[:4]} == {"denise nichols"}
    assert f["MARTIN, TYLER DBA GROWING WONDERS MONTESSORI L.L.C."] == "growing wonders montessori"
    assert f["Growing Wonders Montessori"] == "growing wonders montessori"
    # too short to drop the trade words: they are the name
    assert f["Home Daycare"] == "home daycare"
    assert f["Sunshine Home Daycare"] == "sunshine home daycare"


def _stands(**gammas: int | None) -> bool:
    cols = {
        "gamma_street_address": None, "gamma_facility_name": None, "gamma_phone": None,
        "gamma_postal5": None, "street_number_l": None, "street_number_r": None,
        "street_core_l": None, "street_core_r": None, "postal5_l": None, "postal5_r": None,
    } | gammas  # fmt: skip
    select = ", ".join(
        f"{'NULL' if v is None else repr(v)}::{'INTEGER' if k.startswith('gamma') else 'VARCHAR'}"
        f" AS {k}"
        for k, v in cols.items()
    )
    return duckdb.connect().execute(f"SELECT {splink_guard()} FROM (SELECT {select})").fetchone()[0]


def test_guard_without_a_street_needs_the_same_phone() -> None:
    # one side without a street: same name and postal code, another phone → apart (a chain)
    assert not _stands(gamma_street_address=-1, gamma_facility_name=3, gamma_phone=0,
                       gamma_postal5=1)  # fmt: skip
    assert not _stands(gamma_street_address=-1, gamma_facility_name=3, gamma_phone=-1,
                       gamma_postal5=1)  # fmt: skip
    # the same number in the same postal code, or with the same name
    assert _stands(gamma_street_address=-1, gamma_facility_name=0, gamma_phone=2,
                   gamma_postal5=1)  # fmt: skip
    assert _stands(gamma_street_address=-1, gamma_facility_name=3, gamma_phone=2,
                   gamma_postal5=-1)  # fmt: skip
    # ...but not across postal codes (a chain's central number)
    assert not _stands(gamma_street_address=-1, gamma_facility_name=3, gamma_phone=2,
                       gamma_postal5=0)  # fmt: skip


def test_guard_another_number_on_the_street_needs_the_same_phone() -> None:
    same_street = {"gamma_street_address": 1, "gamma_facility_name": 3, "gamma_postal5": 1}
    assert not _stands(gamma_phone=0, **same_street)
    assert _stands(gamma_phone=2, **same_street)
    # the same number and street: the address decides, whatever the phone
    assert _stands(gamma_street_address=3, gamma_facility_name=2, gamma_phone=0, gamma_postal5=1)


def test_blocking_only_finds_pairs_the_guard_can_keep() -> None:
    rules = facility_blocking()
    assert "l.phone7 = r.phone7" in rules
    # every other rule asks for the same street number
    assert all("street_number" in r for r in rules if "phone7" not in r)
