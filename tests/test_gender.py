"""Opt-in gender inference from first names (`enrich.gender`, gender-guesser's offline list):
off by default, inferred values with their confidence on customers and contacts, a declared
gender never overwritten, unknown names 'unknown', one-line errors for bad keys."""

from __future__ import annotations

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from crmpipe.build.gender import guess
from crmpipe.cli import app
from crmpipe.config.load import ConfigError, load_config
from crmpipe.demo.datasets.movers_config import RESOLVE_CUSTOMERS
from crmpipe.pipeline import run

CUSTOMERS = (
    "Customer ID,First Name,Last Name,Email,Phone,Address,Updated\n"
    '1001,Angela,Wright,angela.wright@gmail.com,(512) 555-0101,"12 Oak St Austin, TX 78701",'
    "2025-02-01\n"
    '1002,Tom,Baker,tbaker@yahoo.com,512-555-0199,"9 Elm Ave Austin, TX 78702",2025-02-01\n'
    '1003,Xqzwv,Stone,xq@gmail.com,512-555-0123,"1 Main St Austin, TX 78703",2025-02-01\n'
    '1004,Kim,Lee,kim.lee@gmail.com,512-555-0145,"4 Pine Rd Austin, TX 78704",2025-02-01\n'
    '1005,,Nobody,nobody@gmail.com,512-555-0167,"5 Ash Ln Austin, TX 78705",2025-02-01\n'
)
CONTACTS = (
    "id,first,last,email,sex\n"
    "c1,Angela,Wright,angela@city.gov,M\n"  # declared: never overwritten by the name
    "c2,Robert,Hill,rhill@city.gov,\n"
    "c3,Mary Ann,Cole,mcole@city.gov,\n"
    "c4,Xqzwv,Stone,xstone@city.gov,\n"
)


def _customers(tmp_path, enrich: dict | None = None):
    (tmp_path / "customers_b01.csv").write_text(CUSTOMERS)
    doc: dict = {
        "sources": {
            "customers": {"path": "customers_*.csv", "table": "customers",
                          "file_fields": {"branch": r"customers_(.+)\.csv"},
                          "local_ids": {"by": "branch", "columns": ["customer_id"]},
                          "columns": {"customer_id": "Customer ID", "first_name": "First Name",
                                      "last_name": "Last Name", "email": "Email",
                                      "phone": "Phone", "address": "Address",
                                      "updated_at": "Updated"}},
        },
        "resolve": {"customers": RESOLVE_CUSTOMERS},
    }  # fmt: skip
    if enrich is not None:
        doc["enrich"] = enrich
    (tmp_path / "crmpipe.yml").write_text(yaml.safe_dump(doc))
    return load_config(tmp_path / "crmpipe.yml")


def _contacts(tmp_path, gender: dict):
    (tmp_path / "contacts.csv").write_text(CONTACTS)
    doc = {
        "sources": {
            "contacts": {"path": "contacts.csv", "table": "contacts",
                         "columns": {"contact_id": "id", "first_name": "first",
                                     "last_name": "last", "emails": "email"},
                         "extra": {"gender": {"type": "category", "column": "sex"}}},
        },
        "enrich": {"gender": gender},
    }  # fmt: skip
    (tmp_path / "crmpipe.yml").write_text(yaml.safe_dump(doc))
    return load_config(tmp_path / "crmpipe.yml")


def _query(cfg, sql: str) -> list[tuple]:
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_off_by_default_no_columns(tmp_path):
    cfg = _customers(tmp_path)
    run(cfg)
    columns = {r[0] for r in _query(cfg, "SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'customers'")}  # fmt: skip
    assert "first_name" in columns
    assert not {c for c in columns if c.startswith("gender")}


def test_customers_get_inferred_gender_with_confidence(tmp_path):
    cfg = _customers(tmp_path, {"gender": {"tables": ["customers"]}})
    summary = run(cfg)
    got = dict(
        (r[0], (r[1], r[2]))
        for r in _query(
            cfg, "SELECT first_name, gender_inferred, gender_confidence FROM core.customers"
        )
    )
    assert got["Angela"] == ("female", 0.95)
    assert got["Tom"] == ("male", 0.95)
    assert got["Kim"] == ("female", 0.75)  # mostly female in the list
    assert got["Xqzwv"] == ("unknown", None)  # not in the list
    assert got[None] == (None, None)  # no first name: nothing inferred
    (step,) = [s for s in summary.steps if s.step == "gender"]
    assert step.rows == 4 and step.detail.startswith("3 inferred")


def test_a_declared_gender_is_never_overwritten_on_contacts(tmp_path):
    cfg = _contacts(tmp_path, {"tables": ["contacts"], "country": "usa"})
    run(cfg)
    got = {
        r[0]: r[1:]
        for r in _query(
            cfg, "SELECT first_name, gender, gender_inferred, gender_confidence FROM core.contacts"
        )
    }
    assert got["Angela"] == ("M", None, None)  # the declared value stays, nothing inferred
    assert got["Robert"] == (None, "male", 0.95)
    assert got["Mary Ann"][1] == "female"  # a compound name read by its first part
    assert got["Xqzwv"] == (None, "unknown", None)
    # the inferred columns are search fields of contacts
    hits = _query(cfg, "SELECT first_name FROM search.contact_search "
                       "WHERE gender_inferred = 'male'")  # fmt: skip
    assert hits == [("Robert",)]


def test_guess_reads_compound_names_and_countries():
    assert guess("Jean-Luc") == ("male", 0.95)
    assert guess("Andrea", "italy")[0] == "male" and guess("Andrea", "usa")[0] == "female"
    assert guess("") == ("unknown", None)


@pytest.mark.parametrize(
    ("gender", "message"),
    [
        ({"tables": ["deals"]}, "enrich.gender.tables: deals has no first_name column"),
        ({"tables": ["custmers"]}, "unknown table 'custmers'"),
        ({"tables": ["customers"], "country": "us"}, "enrich.gender.country"),
        ({"tables": ["customers"], "declared": "sex"}, "enrich.gender.declared: customers has"),
        ({"tables": ["customers"], "colour": 1}, "enrich.gender.colour: unknown key"),
    ],
)
def test_bad_enrich_keys_are_one_line_errors(tmp_path, gender, message):
    with pytest.raises(ConfigError) as err:
        _customers(tmp_path, {"gender": gender})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_run_cli_prints_the_gender_step(tmp_path):
    cfg = _customers(tmp_path, {"gender": {"tables": ["customers"]}})
    result = CliRunner().invoke(app, ["run", "-c", str(cfg.path)])
    assert result.exit_code == 0, result.output
    assert "gender customers" in result.output
