"""The mover case's project-file keys on hand-made files: a file field and local ids, a
standardised list, one-line errors, and unification of one person entered at two branches."""

from __future__ import annotations

import duckdb
import pytest

from crmpipe.config.load import ConfigError, load_config
from crmpipe.demo.datasets.movers_config import RESOLVE_CUSTOMERS
from crmpipe.pipeline import run

HEADER = "Customer ID,First Name,Last Name,Email,Phone,Address,Created,Updated\n"


def _project(tmp_path, extra: str = "") -> object:
    (tmp_path / "customers_b01.csv").write_text(
        HEADER + "1001,Angela,Wright,angela.wright@gmail.com,(512) 555-0101,"
        '"12 Oak St Austin, TX 78701",2025-01-01,2025-02-01\n'
        + "1002,Tom,Baker,tbaker@yahoo.com,512-555-0199,"
        '"9 Elm Ave Austin, TX 78702",2025-01-01,2025-02-01\n'
    )
    (tmp_path / "customers_b02.csv").write_text(
        HEADER + "1001,ANGELA,Wrigt,angela.wrigth@gmail.com,512.555.0101,"
        '"12 OAK STREET AUSTIN, TX 78701",2025-03-01,2025-03-02\n'
    )
    (tmp_path / "branches.csv").write_text("Branch ID,Branch Name,State\nb01,AUSTIN,texas\n"
                                           "b02,Dallas Branch,TX\nb03,Nowhere,tx\n")  # fmt: skip
    import yaml

    doc = {
        "sources": {
            "branches": {"path": "branches.csv", "table": "branches",
                         "columns": {"branch_id": "Branch ID", "name": "Branch Name",
                                     "state": "State"},
                         "standardize": {"name": ["Austin", "Dallas"]}},
            "customers": {"path": "customers_*.csv", "table": "customers",
                          "file_fields": {"branch": r"customers_(.+)\.csv"},
                          "local_ids": {"by": "branch", "columns": ["customer_id"]},
                          "columns": {"customer_id": "Customer ID", "branch_id": "branch",
                                      "first_name": "First Name", "last_name": "Last Name",
                                      "email": "Email", "phone": "Phone", "address": "Address",
                                      "updated_at": "Updated"}},
        },
        "resolve": {"customers": RESOLVE_CUSTOMERS},
    }  # fmt: skip
    (tmp_path / "crmpipe.yml").write_text(yaml.safe_dump(doc) + extra)
    return load_config(tmp_path / "crmpipe.yml")


def test_one_person_at_two_branches_is_one_golden_customer(tmp_path):
    cfg = _project(tmp_path)
    run(cfg)
    con = duckdb.connect(str(cfg.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "SELECT record_id, golden_id FROM core.customer_sources ORDER BY record_id"
        ).fetchall()
        assert [r[0] for r in rows] == ["b01:1001", "b01:1002", "b02:1001"]
        golden = {r[0]: r[1] for r in rows}
        assert golden["b01:1001"] == golden["b02:1001"] != golden["b01:1002"]
        names = dict(con.execute("SELECT branch_id, name FROM core.branches").fetchall())
        assert names == {"b01": "Austin", "b02": "Dallas", "b03": None}
        (issue,) = con.execute(
            "SELECT value FROM meta.row_issues WHERE code = 'not_in_list'"
        ).fetchone()
        assert issue == "Nowhere"
    finally:
        con.close()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"file_fields": {"branch": "customers_.csv"}}, "exactly one (group)"),
        ({"local_ids": {"by": "branch", "columns": ["job_id"]}}, "not mapped"),
    ],
)
def test_bad_keys_are_one_line_errors(tmp_path, bad, message):
    import yaml

    _project(tmp_path)
    doc = yaml.safe_load((tmp_path / "crmpipe.yml").read_text())
    doc["sources"]["customers"].update(bad)
    (tmp_path / "crmpipe.yml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "crmpipe.yml")
    assert message in str(err.value) and "\n" not in str(err.value)
