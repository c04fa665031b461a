"""The project file: validation errors a user can act on, env substitution, extension columns."""

from pathlib import Path

import pytest

from crmpipe.config.load import ConfigError, load_config, parse_config
from crmpipe.model import Role

GOOD = """
warehouse: wh.duckdb
sources:
  places:
    path: places.csv
    table: entities
    columns: {entity_id: place_id, state: state_abbr}
    extra: {pop_estimate_2022: bigint, fips: {type: text, column: place_fips}}
  crm:
    path: crma.csv
    table: external_ids
    constants: {customer: a, system: salesforce}
    columns: {external_id: sfdc_id, entity_id: place_id}
search:
  aliases: {pop: pop_estimate_2022}
"""


def test_good_file_parses_with_extensions():
    cfg = parse_config(GOOD)
    entities = cfg.tables()["entities"]
    assert entities.column("pop_estimate_2022").role is Role.INTEGER
    assert entities.column("fips").role is Role.TEXT
    assert cfg.sources["places"].extension_columns()["fips"].column == "place_fips"
    assert list(cfg.sources_for("external_ids")) == ["crm"]
    assert cfg.search.aliases == {"pop": "pop_estimate_2022"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sourcs: {}", "sourcs: unknown key — did you mean 'sources'?"),
        (
            "sources: {a: {path: x, table: contact}}",
            "sources.a.table: unknown table 'contact' — did you mean 'contacts'?",
        ),
        (
            "sources: {a: {path: x, table: contacts, columns: {emial: e}}}",
            "sources.a.columns.emial: not a column of table contacts — did you mean 'emails'?",
        ),
        (
            "sources: {a: {path: x, table: contacts, fromat: {}}}",
            "sources.a.fromat: unknown key — did you mean 'format'?",
        ),
        (
            "sources: {a: {path: x, table: entities, extra: {pop: bigit}}}",
            "sources.a.extra.pop: unknown type 'bigit' — did you mean 'bigint'?",
        ),
        ("sources: {a: {table: entities}}", "sources.a.path: required key is missing"),
        (
            "sources: {a: {path: x, table: entities, format: {encoding: klingon}}}",
            "unsupported encoding 'klingon'",
        ),
        ("sources: [", "not valid YAML"),
        ("- a\n- b", "expected a mapping"),
    ],
)
def test_errors_name_the_key_and_suggest(text, message):
    with pytest.raises(ConfigError) as exc:
        parse_config(text, Path("proj/crmpipe.yml"))
    assert str(exc.value).startswith("proj/crmpipe.yml")
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_env_substitution(monkeypatch):
    monkeypatch.setenv("WH_DIR", "/data/wh")
    cfg = parse_config("warehouse: ${WH_DIR}/x.duckdb\npublish:\n  postgres: ${NOT_SET_ANYWHERE}\n")
    assert cfg.warehouse == "/data/wh/x.duckdb"
    assert cfg.publish.postgres is None
    cfg = parse_config("warehouse: ${NOT_SET_ANYWHERE:-local.duckdb}\n")
    assert cfg.warehouse == "local.duckdb"


def test_missing_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ConfigError, match="crmpipe init"):
        load_config(tmp_path / "crmpipe.yml")


def test_relative_paths_start_at_the_project_file(tmp_path):
    (tmp_path / "crmpipe.yml").write_text("warehouse: w/x.duckdb\n")
    cfg = load_config(tmp_path)
    assert cfg.warehouse_path == (tmp_path / "w" / "x.duckdb").resolve()


def test_a_bare_off_turns_a_comparison_off() -> None:
    """YAML 1.1 reads `off` as false; the documented `{department: off}` must still load."""
    cfg = parse_config(
        "sources:\n  people: {path: p.csv, table: contacts}\n"
        "resolve:\n  contacts:\n    comparisons: {department: off, title: exact}\n"
    )
    assert cfg.resolve["contacts"].comparisons == {"department": "off", "title": "exact"}
