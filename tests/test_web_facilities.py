"""The web UI over a facilities project (tests/support/facilities.py: two agencies' lists,
contacts, licenses, addresses, the leads marts): the table choice on the search page,
facility results linking to their pages, and a facility's page with its licenses, addresses,
contacts, source rows and the provenance of its lead's values — masked for a masked key."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from crmpipe.api.access import hash_key
from crmpipe.config.schema import ApiKeySpec, Config, ServeSpec
from crmpipe.serve import open_store
from support.facilities import make_facility_project
from support.server import Server

FULL, MASKED = "full-key-0123456789abcdef", "masked-key-0123456789abcdef"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return make_facility_project(Path(tmp_path_factory.mktemp("web_facilities")))


@pytest.fixture(scope="module")
def web(project: Config) -> Iterator[Server]:
    keys = [
        ApiKeySpec(name="full", hash=hash_key(FULL), role="full"),
        ApiKeySpec(name="masked", hash=hash_key(MASKED), role="masked"),
    ]
    with Server(project.model_copy(update={"serve": ServeSpec(keys=keys)})) as server:
        yield server


def _page(web: Server, path: str, key: str = FULL, **params: str) -> str:
    status, _, body = web.get(path, {"X-API-Key": key}, **params)
    assert status == 200, body[:500]
    return body


def _entity(project: Config, name: str) -> str:
    with open_store(project, None) as con:
        (entity_id,) = con.execute(
            "SELECT entity_id FROM core.entities WHERE display_name = ?", [name]
        ).fetchone()
    return str(entity_id)


def test_the_search_page_offers_both_tables(web: Server) -> None:
    body = _page(web, "/")
    assert '<select name="table"' in body
    assert '<option value="contacts">' in body and '<option value="facilities">' in body
    facilities = _page(web, "/", q="state:TX", table="facilities")
    assert '<option value="facilities" selected>' in facilities
    links = re.findall(r'<td><a href="/entities/([^"]+)">', facilities)
    assert len(links) == 3  # the three Texas facilities, each linking to its page


def test_a_facility_page(web: Server, project: Config) -> None:
    entity_id = _entity(project, "Little Montessori")
    body = _page(web, f"/facilities/{entity_id}")
    assert body == _page(web, f"/entities/{entity_id}")
    licenses = body.split('<table id="licenses">', 1)[1].split("</table>", 1)[0]
    assert "NV-100" in licenses and "Child Care Center" in licenses
    assert "MESQUITE" in body.split('<table id="addresses">', 1)[1].split("</table>", 1)[0]
    assert "Tania Pineda" in body.split('<table id="contacts">', 1)[1].split("</table>", 1)[0]
    assert 'id="sources"' in body
    provenance = body.split('<table id="provenance">', 1)[1].split("</table>", 1)[0]
    assert "nv_20241101.csv" in provenance and "<td>nevada</td>" in provenance
    assert provenance.count("<tr>") > 5  # a row per lead column with a value


def test_a_masked_key_sees_no_pii_on_a_facility_page(web: Server, project: Config) -> None:
    entity_id = _entity(project, "Sunrise Montessori Academy")
    full = html.unescape(_page(web, f"/facilities/{entity_id}"))
    assert "info@sunrise.org" in full and "5125550110" in re.sub(r"\D", "", full)
    masked = html.unescape(_page(web, f"/facilities/{entity_id}", MASKED))
    assert "info@sunrise.org" not in masked
    assert "5125550110" not in re.sub(r"\D", "", masked)
    assert 'id="provenance-note"' in masked and 'id="provenance"' not in masked
    assert "TX-9" in masked  # licenses are not personal
    nevada = html.unescape(
        _page(web, f"/facilities/{_entity(project, 'Little Montessori')}", MASKED)
    )
    assert "Tania" not in nevada and "Pineda" not in nevada
    assert "7025550101" not in re.sub(r"\D", "", nevada)


def test_a_masked_key_sees_no_pii_in_a_facility_s_source_rows_over_the_api(
    web: Server, project: Config
) -> None:
    """A facility list's contact name feeds `contacts`; its raw source rows mask it too."""
    entity_id = _entity(project, "Little Montessori")
    status, _, full = web.get(f"/api/entities/{entity_id}", {"X-API-Key": FULL})
    assert status == 200 and "Tania Pineda" in full
    status, _, masked = web.get(f"/api/entities/{entity_id}", {"X-API-Key": MASKED})
    assert status == 200
    assert "Tania" not in masked and "Pineda" not in masked
    assert "7025550101" not in re.sub(r"\D", "", masked)


def test_the_entity_endpoint_gives_a_facility_s_licenses_addresses_and_provenance(
    web: Server, project: Config
) -> None:
    entity_id = _entity(project, "Little Montessori")
    status, _, body = web.get(f"/api/entities/{entity_id}", {"X-API-Key": FULL})
    detail = json.loads(body)
    assert status == 200
    assert [lic["license_number"] for lic in detail["licenses"]] == ["NV-100"]
    assert detail["addresses"][0]["city"] == "MESQUITE"
    values = {p["column_name"]: p for p in detail["provenance"]}
    assert values["license_number"]["value"] == "NV-100"
    assert values["license_number"]["source"] == "nevada"
    status, _, body = web.get(f"/api/entities/{entity_id}", {"X-API-Key": MASKED})
    masked = json.loads(body)
    assert masked["provenance"] is None and masked["licenses"] == detail["licenses"]
