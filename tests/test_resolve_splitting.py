"""Clusters beyond connected components (issue 15): a chained cluster split at its weak links,
an oversized one under the size cap, and `explain` saying where and why."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from crmpipe.cli import app
from crmpipe.config.load import ConfigError, load_config
from crmpipe.pipeline import run
from crmpipe.resolution.splitting import SIZE, WEAK, split_cluster, split_clusters
from crmpipe.warehouse.connection import connect
from test_resolve import CRM_A, CRM_B, PROJECT, _write

runner = CliRunner()


def test_a_chain_is_cut_at_its_weak_link() -> None:
    label, cuts = split_cluster([(1, 2, 0.999), (2, 3, 0.91)], below=0.95, max_size=None)
    assert label == {1: 1, 2: 1, 3: 3}
    assert cuts == [(2, 3, 0.91, WEAK)]


def test_a_weak_link_inside_a_strong_cycle_cuts_nothing() -> None:
    label, cuts = split_cluster([(1, 2, 0.99), (2, 3, 0.99), (1, 3, 0.92)], 0.95, None)
    assert set(label.values()) == {1} and cuts == []


def test_the_size_cap_keeps_the_strongest_links() -> None:
    star = [(1, 2, 0.99), (1, 3, 0.98), (1, 4, 0.97), (1, 5, 0.96), (4, 5, 0.995)]
    label, cuts = split_cluster(star, below=None, max_size=3)
    parts: dict[int, set[int]] = {}
    for rid, part in label.items():
        parts.setdefault(part, set()).add(rid)
    assert sorted(map(sorted, parts.values())) == [[1, 2, 3], [4, 5]]
    assert {(a, b) for a, b, _, why in cuts if why == SIZE} == {(1, 4), (1, 5)}
    assert split_cluster(list(reversed(star)), None, 3) == (label, cuts)  # order-free
    assert [c[:2] for c in cuts] == [(1, 4), (1, 5)]  # strongest cut first


def test_split_clusters_rewrites_components_and_moves_the_cut_links() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE pairs AS SELECT * FROM (VALUES "
        "(1, 2, 'a', 'b', 0.999, 'splink'), (2, 3, 'b', 'c', 0.91, 'splink'), "
        "(4, 5, 'd', 'e', 0.91, 'splink')) "  # a pair is never split by the weak-link bound
        "t(_rid_l, _rid_r, id_l, id_r, match_probability, rule)"
    )
    con.execute("CREATE TABLE comp AS SELECT * FROM (VALUES (1,1),(2,1),(3,1),(4,4),(5,4)) "
                "t(_rid, _cluster)")  # fmt: skip
    n = split_clusters(con, "pairs", "comp", "splits", "id", below=0.95, max_size=None)
    assert n == 1
    assert con.execute("SELECT * FROM comp ORDER BY _rid").fetchall() == [
        (1, 1), (2, 1), (3, 3), (4, 4), (5, 4)
    ]  # fmt: skip
    assert con.execute("SELECT id_l, id_r, reason FROM splits").fetchall() == [("b", "c", WEAK)]
    assert con.execute("SELECT count(*) FROM pairs").fetchone()[0] == 2
    # off by default: nothing read, an empty splits table for explain
    assert split_clusters(con, "pairs", "comp", "splits", "id", below=None, max_size=None) == 0
    assert con.execute("SELECT count(*) FROM splits").fetchone()[0] == 0


@pytest.fixture()
def capped(tmp_path: Path) -> Path:
    (tmp_path / "entities.csv").write_text("place_id,name\ne1,Town\ne2,City\n", encoding="utf-8")
    _write(tmp_path, "a.csv", CRM_A, 1_700_000_000)
    _write(tmp_path, "b.csv", CRM_B, 1_700_086_400)
    (tmp_path / "crmpipe.yml").write_text(PROJECT + "    max_cluster_size: 2\n", encoding="utf-8")
    return tmp_path


def test_a_run_with_a_size_cap_splits_and_explain_says_why(capped: Path) -> None:
    run(load_config(capped / "crmpipe.yml"))  # c1, d1 and d9 are one person by email
    con = connect(capped / ".crmpipe" / "warehouse.duckdb", read_only=True)
    try:
        sizes = con.execute(
            "SELECT _size, count(*) FROM resolved.contact_clusters GROUP BY 1 ORDER BY 1"
        ).fetchall()
        staged = con.execute("SELECT count(*) FROM staging.contacts").fetchone()[0]
        lineage = con.execute("SELECT count(*) FROM core.contact_sources").fetchone()[0]
    finally:
        con.close()
    assert max(s for s, _ in sizes) == 2
    assert staged == lineage  # every source row still has its golden record
    out = runner.invoke(app, ["explain", "contact", "c1", "-c", str(capped / "crmpipe.yml")])
    assert out.exit_code == 0, out.output
    assert "links cut when its cluster was split" in out.output and SIZE in out.output


def test_a_split_threshold_under_the_threshold_is_a_config_error(capped: Path) -> None:
    path = capped / "crmpipe.yml"
    path.write_text(PROJECT + "    split_below: 0.8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"split_below \(0.8\) must be above threshold"):
        load_config(path)
