"""crmpipe.demo.datasets.childcare: the childcare-leads case's generated files and truth."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest

from crmpipe.demo.datasets.childcare import HEADERS, SOURCES, ChildcareFiles, generate_childcare
from support.shared import shared_folder

FACILITIES = 2000
LEADS = 250
OVERLAP = 0.3
#: The phone column of each list (source1..3) and of the CRM export.
PHONE_COLUMN = {
    "source1": "Phone",
    "source2": "Phone",
    "source3": "Phone",
    "salesforce_leads": "phone",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> ChildcareFiles:
    folder = tmp_path_factory.mktemp("childcare")
    return generate_childcare(folder, FACILITIES, seed=7, overlap=OVERLAP, leads=LEADS)


def records(path: Path) -> list[list[str]]:
    """Every record of a CSV file, header first (a quoted multi-line record counts once)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def truth_rows(files: ChildcareFiles) -> dict[str, list[dict[str, str]]]:
    by_source: dict[str, list[dict[str, str]]] = defaultdict(list)
    with files.truth.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            by_source[row["source"]].append(row)
    return by_source


def test_headers_are_the_real_files_headers(files: ChildcareFiles) -> None:
    for name, path in zip(SOURCES, files.files, strict=True):
        assert tuple(records(path)[0]) == HEADERS[name]
    real = shared_folder("childcare")
    for name in SOURCES:
        with (real / f"{name}.csv").open(encoding="utf-8", errors="replace", newline="") as fh:
            assert tuple(next(csv.reader(fh))) == HEADERS[name], name


def test_the_same_seed_writes_the_same_files(files: ChildcareFiles, tmp_path: Path) -> None:
    again = generate_childcare(tmp_path / "a", FACILITIES, seed=7, overlap=OVERLAP, leads=LEADS)
    for a, b in zip([*files.files, files.truth], [*again.files, again.truth], strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name
    other = generate_childcare(tmp_path / "b", FACILITIES, seed=8, overlap=OVERLAP, leads=LEADS)
    assert other.source1.read_bytes() != files.source1.read_bytes()


def test_truth_covers_every_data_row_at_the_requested_sizes(files: ChildcareFiles) -> None:
    truth = truth_rows(files)
    assert set(truth) == set(SOURCES)
    for name, path in zip(SOURCES, files.files, strict=True):
        n = len(records(path)) - 1
        assert [int(t["row"]) for t in truth[name]] == list(range(1, n + 1)), name
        assert files.rows[name] == n
    assert sum(files.rows[s] for s in SOURCES[:3]) == FACILITIES
    assert files.rows["salesforce_leads"] == LEADS


def test_the_oklahoma_list_has_multi_line_records(files: ChildcareFiles) -> None:
    text = files.source2.read_text(encoding="utf-8")
    rows = records(files.source2)
    assert len(text.splitlines()) > len(rows)
    assert all(
        "\n" in r[13] and r[13].endswith(("Primary Caregiver", "Director")) for r in rows[1:]
    )
    assert all(re.fullmatch(r"CHILD CARE (FAMILY|CENTER) - K8[23]\d{7}", r[0]) for r in rows[1:])


def test_the_planted_overlap_share(files: ChildcareFiles) -> None:
    sources_of: dict[str, set[str]] = defaultdict(set)
    for name in SOURCES[:3]:
        for t in truth_rows(files)[name]:
            sources_of[t["facility_id"]].add(name)
    shared = sum(len(s) >= 2 for s in sources_of.values()) / len(sources_of)
    assert abs(shared - OVERLAP) < 0.02
    assert any(len(s) == 3 for s in sources_of.values())
    # the CRM knows some facilities of the lists, and some no list knows
    leads = {t["facility_id"] for t in truth_rows(files)["salesforce_leads"]}
    assert leads & set(sources_of) and leads - set(sources_of)


def _phones(files: ChildcareFiles) -> list[tuple[str, str]]:
    """(digits of the phone field, true facility) of every well-formed row of every file."""
    truth = truth_rows(files)
    out = []
    for name, path in zip(SOURCES, files.files, strict=True):
        rows = records(path)
        col = rows[0].index(PHONE_COLUMN[name])
        for t, row in zip(truth[name], rows[1:], strict=True):
            if t["malformed"] == "false":
                out.append((re.sub(r"\D", "", row[col]), t["facility_id"]))
    return out


def test_chains_share_a_phone_and_some_phones_have_seven_digits(files: ChildcareFiles) -> None:
    facilities_of: dict[str, set[str]] = defaultdict(set)
    for digits, fid in _phones(files):
        if len(digits) >= 10:
            facilities_of[digits[-10:]].add(fid)
    assert files.counts["chains"] > 0
    assert sum(len(f) >= 2 for f in facilities_of.values()) >= files.counts["chains"] * 0.8
    assert any(len(d) == 7 for d, _ in _phones(files))
    assert files.counts["phone_changed"] > 0


def test_duckdb_rejects_exactly_the_malformed_lines(files: ChildcareFiles) -> None:
    truth = truth_rows(files)
    planted = 0
    for name, path in zip(SOURCES, files.files, strict=True):
        con = duckdb.connect()
        con.execute(f"SELECT count(*) FROM read_csv('{path}', store_rejects = true)").fetchall()
        rejected = {
            line - 1 for (line,) in con.execute("SELECT line FROM reject_errors").fetchall()
        }
        con.close()
        marked = {int(t["row"]) for t in truth[name] if t["malformed"] == "true"}
        assert rejected == marked, name
        planted += len(marked)
    assert planted >= 2 and planted == files.counts["malformed_lines"]
