"""The pursuit demo generator: files, determinism, real sample use, mess, and a truth that an
independent reference cleaner reproduces from the messy files."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crmpipe.demo.datasets import (
    CASES,
    GeneratedCase,
    get_case,
    pursuit,
    pursuit_entities,
    pursuit_lines,
    shared_data_dir,
)

CONTACTS = 2000
SHARED = shared_data_dir()
HAVE_REAL = SHARED is not None and (SHARED / "pursuit" / "places.csv").is_file()
NEEDS_REAL = pytest.mark.skipif(
    not HAVE_REAL, reason="real sample ../shared/data/pursuit absent (set CRMPIPE_SHARED_DATA)"
)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCase:
    return pursuit.generate(tmp_path_factory.mktemp("pursuit"), contacts=CONTACTS, seed=7)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCase:
    return pursuit.generate(
        tmp_path_factory.mktemp("synthetic"), contacts=CONTACTS, entities=1200, seed=3, shared=None
    )


# --------------------------------------------------------------------------------------------
# helpers: reading the files back, and a reference cleaner written independently of the
# generator (what a correct pipeline does, in plain Python)

NULLS = {"", "n/a", "null", "-", "none"}
EMAIL_RE = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
EXT_RE = re.compile(r"^(.*?)\s*(?:(?:x|ext\.?|extension|#)\s*(\d+))?\s*$", re.I)


def read_rows(path: Path, *, bom: bool = False) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def contact_lines(path: Path) -> tuple[list[list[str]], list[bytes]]:
    """(good rows, malformed raw lines) of a contacts file, as Python's csv module sees them."""
    good, bad = [], []
    for raw in path.read_bytes().split(b"\n")[1:]:
        if not raw:
            continue
        try:
            fields = next(csv.reader([raw.decode("utf-8")]))
        except UnicodeDecodeError:
            bad.append(raw)
            continue
        (good if len(fields) == len(pursuit_lines.CONTACT_HEADER) else bad).append(
            fields if len(fields) == len(pursuit_lines.CONTACT_HEADER) else raw
        )
    return good, bad


def is_null(value: str) -> bool:
    return value.strip().lower() in NULLS


def clean_text(value: str) -> str:
    return "" if is_null(value) else " ".join(value.split())


def clean_emails(value: str) -> str:
    if is_null(value):
        return ""
    out: list[str] = []
    for token in re.split(r"[;,\s]+", value.strip().lower()):
        if EMAIL_RE.fullmatch(token) and token not in out:
            out.append(token)
    return ";".join(out)


def clean_phone(value: str) -> tuple[str, str]:
    if is_null(value):
        return "", ""
    main, ext = EXT_RE.match(value.strip()).groups()
    digits = re.sub(r"\D", "", main)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    assert len(digits) == 10, value
    return "+1" + digits, ext or ""


def clean_created(value: str) -> str:
    if is_null(value):
        return ""
    value = value.strip()
    if value.isdigit():
        ts = datetime.fromtimestamp(int(value), UTC).replace(tzinfo=None)
    else:
        for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y"):
            try:
                ts = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            raise AssertionError(f"unparseable created_at {value!r}")
    return ts.strftime("%Y-%m-%dT%H:%M:%S")


def truth_by_id(case: GeneratedCase) -> dict[str, dict[str, str]]:
    header, rows = read_rows(case.truth_path)
    return {r[0]: dict(zip(header, r, strict=True)) for r in rows}


# --------------------------------------------------------------------------------------------
# files


def test_registry_and_shared_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert get_case("pursuit") is CASES["pursuit"]
    with pytest.raises(KeyError, match="pursuit"):
        get_case("nope")
    monkeypatch.setenv("CRMPIPE_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path


def test_files_headers_and_counts(case: GeneratedCase) -> None:
    names = [p.name for p in case.files]
    assert names == [
        "entities.csv",
        "techstacks.csv",
        "crma.csv",
        "crmb.csv",
        "contacts_1.csv",
        "contacts_2.csv",
        "contacts_3.csv",
    ]
    assert case.config_path.read_text() == pursuit.CONFIG_YML
    assert case.config_path.read_text().startswith("# crmpipe project file for the public-sector")
    expected = {
        "entities.csv": list(pursuit_entities.ENTITY_HEADER),
        "techstacks.csv": ["name", "place_id", "type"],
        "crma.csv": ["sfdc_id", "place_id"],
        "crmb.csv": ["hubspot_id", "place_id"],
        "contacts_1.csv": list(pursuit_lines.CONTACT_HEADER),
        "contacts_2.csv": list(pursuit_lines.CONTACT_HEADER),
        "contacts_3.csv": list(pursuit_lines.CONTACT_HEADER),
        "truth.csv": list(pursuit_lines.TRUTH_HEADER),
    }
    for name, header in expected.items():
        raw = (case.folder / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (name in ("crma.csv", "crmb.csv")), name
        lines = [x for x in raw.split(b"\n")[1:] if x.strip()]
        assert len(lines) == case.counts[name], name
        if not name.startswith("contacts"):
            got, rows = read_rows(case.folder / name, bom=True)
            assert got == header and len(rows) == case.counts[name], name
        else:
            assert raw.split(b"\n")[0].decode() == ",".join(header)
    assert case.counts["entities.csv"] == 1000  # max(1000, contacts // 30)
    n1, n2 = case.counts["contacts_1.csv"], case.counts["contacts_2.csv"]
    assert n1 == round(CONTACTS * 0.8)
    assert n2 == CONTACTS - n1 + case.counts["updated_contacts"]
    assert case.counts["updated_contacts"] == round(n1 * 0.005)
    c1 = (case.folder / "contacts_1.csv").stat().st_mtime
    assert (case.folder / "contacts_2.csv").stat().st_mtime > c1


def test_config_loads(case: GeneratedCase) -> None:
    config = pytest.importorskip("crmpipe.config.load")
    cfg = config.load_config(case.config_path)
    assert set(cfg.sources) == {"entities", "techstacks", "customer_a", "customer_b", "contacts"}


def test_deterministic_per_seed(case: GeneratedCase, tmp_path: Path) -> None:
    again = pursuit.generate(tmp_path / "again", contacts=CONTACTS, seed=7)
    for p in [*case.files, case.truth_path, case.config_path]:
        q = again.folder / p.name
        assert p.read_bytes() == q.read_bytes(), p.name
        assert p.stat().st_mtime == q.stat().st_mtime, p.name
    assert case.counts == again.counts
    other = pursuit.generate(tmp_path / "other", contacts=CONTACTS, seed=8)
    assert (case.folder / "contacts_1.csv").read_bytes() != (
        other.folder / "contacts_1.csv"
    ).read_bytes()


@NEEDS_REAL
def test_real_sample_first(case: GeneratedCase) -> None:
    real = SHARED / "pursuit"
    _, places = read_rows(real / "places.csv")
    _, ents = read_rows(case.folder / "entities.csv")
    assert [r[0] for r in ents[: len(places)]] == [r[0] for r in places]
    assert [r[9] for r in ents[: len(places)]] == [r[9] for r in places]  # display_name
    _, techs = read_rows(real / "techstacks.csv")
    _, gen_techs = read_rows(case.folder / "techstacks.csv")
    assert gen_techs[: len(techs)] == techs
    for name in ("crma.csv", "crmb.csv"):
        _, rows = read_rows(real / name, bom=True)
        _, gen = read_rows(case.folder / name, bom=True)
        assert gen[: len(rows)] == rows


@NEEDS_REAL
def test_real_sample_extended(tmp_path: Path) -> None:
    g = pursuit.generate(tmp_path, contacts=300, entities=2000, seed=5)
    _, ents = read_rows(g.folder / "entities.csv")
    assert len(ents) == 2000 and len({r[0] for r in ents}) == 2000
    ids = {r[0] for r in ents}
    generated = ents[1000:]
    assert all(re.fullmatch(r"[0-9a-f]{24}", r[0]) for r in generated)
    assert sum(r[10] in ids for r in generated) > 0.8 * len(generated)  # parents exist
    assert {r[6] for r in generated} >= {"160", "50", "970"}
    assert sum(bool(r[7]) for r in generated) > 0.95 * len(generated)  # urls
    _, crma = read_rows(g.folder / "crma.csv", bom=True)
    assert len(crma) == 400 and len({r[0] for r in crma}) == 400
    assert {r[1] for r in crma} <= ids
    _, techs = read_rows(g.folder / "techstacks.csv")
    assert {r[1] for r in techs} <= ids
    assert len({r[1] for r in techs if r[1] in {e[0] for e in generated}}) > 500


def test_synthetic_without_shared(synthetic: GeneratedCase) -> None:
    header, ents = read_rows(synthetic.folder / "entities.csv")
    assert header == list(pursuit_entities.ENTITY_HEADER)
    assert len(ents) == 1200 == synthetic.counts["entities.csv"]
    assert synthetic.counts["real_entities"] == 0
    ids = {r[0] for r in ents}
    assert len(ids) == 1200
    assert sum(r[1].strip() == r[1] and len(r[1]) == 2 for r in ents) > 0.9 * len(ents)
    assert {r[6] for r in ents} >= {"40", "50", "160", "970"}
    _, techs = read_rows(synthetic.folder / "techstacks.csv")
    assert techs and {r[1] for r in techs} <= ids
    _, crma = read_rows(synthetic.folder / "crma.csv", bom=True)
    assert len(crma) == 240 and {r[1] for r in crma} <= ids
    truth = truth_by_id(synthetic)
    assert len(truth) == CONTACTS and {t["entity_id"] for t in truth.values()} <= ids


def test_explicit_missing_shared_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        pursuit.generate(tmp_path / "x", contacts=10, shared=tmp_path)


def test_tiny_and_empty(tmp_path: Path) -> None:
    g = pursuit.generate(tmp_path / "tiny", contacts=10, shared=None)
    assert g.counts["contacts_1.csv"] + g.counts["contacts_2.csv"] >= 10
    g0 = pursuit.generate(tmp_path / "zero", contacts=0, shared=None)
    assert g0.counts["truth.csv"] == 0 and g0.counts["contacts_1.csv"] == 0


# --------------------------------------------------------------------------------------------
# the truth


def test_truth_one_row_per_contact(case: GeneratedCase) -> None:
    truth = truth_by_id(case)
    assert len(truth) == CONTACTS == case.counts["truth.csv"]
    assert list(truth) == [f"c{i:07d}" for i in range(1, CONTACTS + 1)]
    _, ents = read_rows(case.folder / "entities.csv")
    assert {t["entity_id"] for t in truth.values()} <= {r[0] for r in ents}
    assert sum(t["rejected"] == "true" for t in truth.values()) == case.counts["malformed_lines"]


def test_truth_matches_reference_cleaning(case: GeneratedCase) -> None:
    """Every well-formed winning row, cleaned by the reference cleaner, equals its truth row."""
    truth = truth_by_id(case)
    winners: dict[str, tuple[str, list[str]]] = {}
    for name in pursuit_lines.CONTACT_FILES:  # later file wins
        good, _ = contact_lines(case.folder / name)
        for row in good:
            winners[row[0]] = (name, row)
    assert set(winners) | {k for k, t in truth.items() if t["rejected"] == "true"} == set(truth)
    for cid, (source, row) in winners.items():
        t = truth[cid]
        assert t["rejected"] == "false" and t["source_file"] == source, cid
        phone, ext = clean_phone(row[5])
        got = {
            "entity_id": row[1],
            "first_name": clean_text(row[2]).lower(),
            "last_name": clean_text(row[3]).lower(),
            "emails": clean_emails(row[4]),
            "phone": phone,
            "phone_ext": ext,
            "title": clean_text(row[6]).lower(),
            "department": clean_text(row[7]).lower(),
            "created_at": clean_created(row[8]),
        }
        want = {
            k: t[k].lower() if k in ("first_name", "last_name", "title", "department") else t[k]
            for k in got
        }
        assert got == want, (cid, row)


def test_updates_win_from_the_later_file(case: GeneratedCase) -> None:
    truth = truth_by_id(case)
    good1, _ = contact_lines(case.folder / "contacts_1.csv")
    good2, _ = contact_lines(case.folder / "contacts_2.csv")
    ids1 = {r[0]: r for r in good1}
    updated = [r for r in good2 if r[0] in ids1]
    assert len(updated) == case.counts["updated_contacts"] > 0
    for row in updated:
        t = truth[row[0]]
        assert t["source_file"] == "contacts_2.csv"
        assert t["title"].lower() == clean_text(row[6]).lower()
    changed = [
        r
        for r in updated
        if clean_text(r[6])
        and clean_text(ids1[r[0]][6])
        and clean_text(r[6]).lower() != clean_text(ids1[r[0]][6]).lower()
    ]
    assert len(changed) >= 0.8 * len(updated)


# --------------------------------------------------------------------------------------------
# the mess


def test_malformed_lines_are_malformed(case: GeneratedCase) -> None:
    truth = truth_by_id(case)
    rejected = {k for k, t in truth.items() if t["rejected"] == "true"}
    seen: set[str] = set()
    kinds = {"too_many_fields": 0, "too_few_fields": 0, "invalid_utf8": 0}
    for name in pursuit_lines.CONTACT_FILES:
        _, bad = contact_lines(case.folder / name)
        assert len(bad) >= 3, name
        for raw in bad:
            try:
                fields = next(csv.reader(io.StringIO(raw.decode("utf-8"))))
            except UnicodeDecodeError:
                kinds["invalid_utf8"] += 1
                fields = next(csv.reader(io.StringIO(raw.decode("cp1252"))))
                assert len(fields) == 9
            else:
                kinds["too_many_fields" if len(fields) > 9 else "too_few_fields"] += 1
            seen.add(fields[0])
    assert seen == rejected
    for kind, n in kinds.items():
        assert n == case.counts[f"malformed_{kind}"] > 0, kind
    assert '"' not in "".join(  # no unterminated quotes
        x
        for x in (case.folder / "contacts_1.csv")
        .read_bytes()
        .decode("utf-8", "replace")
        .split("\n")
        if x.count('"') % 2
    )


def test_mess_present_at_planted_rates(case: GeneratedCase) -> None:
    rows: list[list[str]] = []
    for name in pursuit_lines.CONTACT_FILES:
        rows += contact_lines(case.folder / name)[0]
    n = len(rows)
    c = case.counts

    def close(measured: int, planted: int) -> bool:
        return abs(measured - planted) <= 5 + 0.05 * planted

    main_phone = re.compile(r"^(?:\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4})(?:\s|$)")
    phones = [r[5] for r in rows if not is_null(r[5])]
    assert close(sum(not main_phone.match(p) for p in phones), c["phone_nonstandard_formats"])
    assert close(sum(bool(EXT_RE.match(p).group(2)) for p in phones), c["phone_extensions"])
    assert len({re.sub(r"\d", "9", p.split(" x")[0]) for p in phones}) >= 12  # a dozen layouts
    emails = [r[4] for r in rows if not is_null(r[4])]
    multi = sum(
        len([t for t in re.split(r"[;,\s]+", e.strip()) if "@" in t]) > 1 and "@@" not in e
        for e in emails
    )
    assert close(multi, c["multi_email_fields"] + c["duplicate_email_fields"])
    invalid = sum(
        any(
            ("@" in t or t == "at") and not EMAIL_RE.fullmatch(t.lower())
            for t in re.split(r"[;,\s]+", e.strip())
        )
        for e in emails
    )
    assert close(invalid, c["invalid_emails"])
    assert any("@@" in e for e in emails) and any(" at " in e for e in emails)
    assert any(";" in e for e in emails) and any(", " in e for e in emails)
    nulls = sum(is_null(r[i]) for r in rows for i in (4, 5, 6, 7, 8))
    assert close(nulls, c["null_tokens"])
    assert {r[i].strip() for r in rows for i in (4, 5, 6, 7, 8)} >= {"N/A", "null", "-", "none"}
    created = [r[8] for r in rows if not is_null(r[8])]
    main_ts = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
    assert close(sum(not main_ts.match(x) for x in created), c["created_nonstandard_formats"])
    assert any(x.isdigit() for x in created) and any(
        re.fullmatch(r"\d+/\d+/\d\d", x) for x in created
    )
    noisy_names = sum(
        r[i] != r[i].strip() or r[i].isupper() or r[i].islower() for r in rows for i in (2, 3)
    )
    assert (
        0.5 * c["name_case_noise"]
        < noisy_names
        < 1.5 * (c["name_case_noise"] + c["name_whitespace_noise"])
    )
    for key in (
        "invalid_emails",
        "multi_email_fields",
        "name_case_noise",
        "title_case_noise",
        "null_tokens",
        "created_nonstandard_formats",
    ):
        assert 0.002 * n < c[key], key
    for key in (
        "invalid_emails",
        "multi_email_fields",
        "title_case_noise",
        "email_null_tokens",
        "phone_null_tokens",
    ):
        assert c[key] < 0.10 * n, key
    # the entity file too: state spellings and thousands separators
    _, ents = read_rows(case.folder / "entities.csv")
    assert sum(len(r[1].strip()) > 2 for r in ents) >= c["entity_state_full_names"] > 0
    assert sum("," in r[4] for r in ents) == c["entity_pop_thousands_separators"] > 0


def test_reference_query_material(case: GeneratedCase, synthetic: GeneratedCase) -> None:
    for g in (case, synthetic):
        truth = truth_by_id(g)
        assert sum("finance" in t["title"].lower() for t in truth.values()) > 20
        assert sum("bob" in t["emails"] for t in truth.values()) > 0
        assert any(t["first_name"] in ("Bob", "Robert", "Bobby") for t in truth.values())
        _, ents = read_rows(g.folder / "entities.csv")
        pop = {r[0]: int(r[4].replace(",", "")) for r in ents if r[4].replace(",", "").isdigit()}
        _, techs = read_rows(g.folder / "techstacks.csv")
        accela = {r[1] for r in techs if r[0] == "Accela"}
        assert any(pop.get(pid, 0) > 10_000 for pid in accela)
        _, crma = read_rows(g.folder / "crma.csv", bom=True)
        assert len(crma) > 0
        big = [t for t in truth.values() if t["entity_id"] in accela]
        assert big  # contacts at Accela entities


def test_contacts_are_realistic(case: GeneratedCase) -> None:
    truth = truth_by_id(case)
    per_entity: dict[str, int] = {}
    for t in truth.values():
        per_entity[t["entity_id"]] = per_entity.get(t["entity_id"], 0) + 1
    sizes = sorted(per_entity.values(), reverse=True)
    assert sizes[0] > 10 * (CONTACTS / 1000)  # a few big entities have many contacts
    titles = {t["title"] for t in truth.values() if t["title"]}
    assert len(titles) > 100
    assert {"Finance Director", "City Clerk", "Treasurer"} & titles
    _, ents = read_rows(case.folder / "entities.csv")
    domain = {r[0]: pursuit_entities.url_domain(r[7]) for r in ents}
    on_domain = sum(
        bool(domain[t["entity_id"]])
        and t["emails"].split(";")[0].endswith("@" + domain[t["entity_id"]])
        for t in truth.values()
        if t["emails"]
    )
    assert on_domain > 0.8 * sum(bool(t["emails"]) for t in truth.values())
