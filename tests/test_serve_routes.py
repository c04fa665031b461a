"""Every route of `crmpipe serve`, walked from the app's own route list (so a new route can't
be forgotten): with a masked key no answer holds an email, phone or person name of the store
(JSON, the CSV exports, HTML pages; SQL refused); without a key every route that isn't open
answers 401; past the rate limit every counted route answers 429 with Retry-After. A real
uvicorn server on a free loopback port over a built generated case."""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import Mount

from crmpipe.api.access import hash_key
from crmpipe.config.load import load_config
from crmpipe.config.schema import ApiKeySpec, Config, RateLimitSpec, ServeSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from crmpipe.serve import open_store
from crmpipe.web.access import is_open, needs_key
from support.server import Server

FULL, MASKED = "full-key-0123456789abcdef", "masked-key-0123456789abcdef"
KEYS = [
    ApiKeySpec(name="analyst", hash=hash_key(FULL), role="full"),
    ApiKeySpec(name="partner", hash=hash_key(MASKED), role="masked"),
]
#: Routes served without a key: the API's description, the stylesheet and script, the login
#: and logout forms. A new open route must be added here on purpose.
OPEN = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/static", "/login", "/logout"}
#: Query parameters each route is asked with (default: none), reaching the PII where it is.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "/api/search": [
        {"q": "title: finance", "limit": 200},
        {"q": "state: CA,TX,NY,FL,OH", "limit": 200, "format": "csv"},
        {"q": "finance"},  # free text: refused for a masked key
    ],
    "/api/facets": [{"fields": "full_name,first_name,last_name,emails,phone,state", "top": 200}],
    "/api/sql": [
        {"q": "select full_name, emails, phone from contacts"},
        {"q": "select * from contact_search", "format": "csv"},
    ],
    "/": [{}, {"q": "title: finance"}, {"q": "state: CA,TX,NY", "offset": 10}],
}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A generated case with both keys configured, built once."""
    case = pursuit.generate(tmp_path_factory.mktemp("routes"), contacts=300, seed=13)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg.model_copy(update={"serve": ServeSpec(keys=KEYS)})


@pytest.fixture(scope="module")
def api(project: Config) -> Iterator[Server]:
    with Server(project) as server:
        yield server


def _ids(cfg: Config) -> dict[str, str]:
    """A value for each path parameter: a contact merged from several rows, its entity, the
    newest run, a customer id."""
    with open_store(cfg, None) as con:
        (contact,) = con.execute(
            "SELECT golden_id FROM core.contact_sources GROUP BY golden_id "
            "ORDER BY count(*) DESC, golden_id LIMIT 1"
        ).fetchone()
        (entity,) = con.execute(
            "SELECT entity_id FROM core.contacts WHERE contact_id = ?", [contact]
        ).fetchone()
        (run_id,) = con.execute("SELECT max(run_id) FROM meta.runs").fetchone()
    # this case has no customers (the mover case's): the customer route answers its 404
    return {"contact_id": contact, "entity_id": entity, "run_id": str(run_id),
            "customer_id": "b01:1001"}  # fmt: skip


def _routes(server: Server) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app; mounts (/static) as their path."""
    out = []
    for route in server.app.routes:
        if isinstance(route, Mount):
            out.append(("GET", route.path))
            continue
        methods = set(getattr(route, "methods", None) or ()) - {"HEAD"}
        assert methods <= {"GET", "POST"}, (route.path, methods)  # read-only, but for login
        out.extend((method, route.path) for method in sorted(methods))
    assert len(out) >= 20
    return out


def _urls(server: Server, ids: dict[str, str]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, template, path, params) of every request the walk sends."""
    out = []
    for method, template in _routes(server):
        names = re.findall(r"{(\w+)}", template)
        missing = set(names) - ids.keys()
        assert not missing, f"{template}: give the walk a value for {missing}"
        path = template.format(**ids)
        if template == "/static":
            path = "/static/crmpipe.css"
        for params in VARIANTS.get(template, [{}]) if method == "GET" else [{}]:
            out.append((method, template, path, params))
    return out


def _pii(cfg: Config) -> tuple[set[str], set[str], set[str]]:
    """The store's person names ("first last" and full names), emails, phones' last 7 digits."""
    names: set[str] = set()
    emails: set[str] = set()
    phones: set[str] = set()
    with open_store(cfg, None) as con:
        for first, last, full, mails, phone in con.execute(
            "SELECT first_name, last_name, full_name, emails, phone FROM core.contacts"
        ).fetchall():
            names.update(
                n for n in (f"{first} {last}" if first and last else None, full) if n and " " in n
            )
            emails.update(mails or [])
            phones.add(re.sub(r"\D", "", phone or "")[-7:])
        for first, last, mail, phone in con.execute(
            "SELECT first_name, last_name, email, phone FROM raw.contacts"
        ).fetchall():
            if first and last:
                names.add(f"{first} {last}")
            emails.add(mail or "")
            phones.add(re.sub(r"\D", "", phone or "")[-7:])
        for mails, phone in con.execute("SELECT email, phone FROM core.entities").fetchall():
            emails.update(mails or [])
            phones.add(re.sub(r"\D", "", phone or "")[-7:])
    return (
        {" ".join(n.lower().split()) for n in names},
        {e.strip().lower() for e in emails if "@" in e},
        {p for p in phones if len(p) == 7},
    )


def _readable(body: str, content_type: str) -> str:
    """The body as a reader sees it: JSON decoded, HTML entities and URL escapes undone."""
    if content_type.startswith("application/json"):
        body = json.dumps(json.loads(body), ensure_ascii=False)
    body = html.unescape(body)
    return " ".join((body + " " + urllib.parse.unquote_plus(body)).lower().split())


def _leaks(body: str, content_type: str, pii: tuple[set[str], set[str], set[str]]) -> list[str]:
    names, emails, phones = pii
    text = _readable(body, content_type)
    found = [e for e in emails if e in text] + [n for n in names if n in text]
    for run_ in re.findall(r"[\d(][\d\s().+-]{5,}\d", text):
        if re.fullmatch(r"\d*\.\d+", run_):
            continue  # a decimal (a rate, a duration), not a phone
        digits = re.sub(r"\D", "", run_)
        found += [p for p in phones if p in digits]
    return found


def _walk(server: Server, cfg: Config, key: str) -> dict[tuple[str, str, str], Any]:
    """{(method, path, params): (status, leaks)} of the whole walk with `key`."""
    pii = _pii(cfg)
    assert all(pii)
    out = {}
    for method, _, path, params in _urls(server, _ids(cfg)):
        status, headers, body = server.request(method, path, bearer(key), **params)
        assert status < 500, (method, path, params, body[:300])
        leaks = _leaks(body, headers.get("content-type", ""), pii)
        out[(method, path, json.dumps(params))] = (status, leaks)
    return out


def test_a_masked_key_sees_no_pii_on_any_route(api: Server, project: Config) -> None:
    full = _walk(api, project, FULL)
    shown = {k for k, (_, leaks) in full.items() if leaks}
    # The check finds PII where a full key is shown it: search, CSV, facets, records, SQL, pages.
    for where in ("/api/search", "/api/facets", "/api/contacts/", "/api/sql", "/contacts/"):
        assert any(path.startswith(where) for _, path, _ in shown), where
    masked = _walk(api, project, MASKED)
    assert {k: leaks for k, (_, leaks) in masked.items() if leaks} == {}
    assert {status for (_, path, _), (status, _) in masked.items() if path == "/api/sql"} == {403}
    ok = {path for (_, path, _), (status, _) in masked.items() if status == 200}
    assert {"/api/search", "/api/facets", "/", "/runs"} <= ok
    assert any(p.startswith("/contacts/") for p in ok) and any(
        p.startswith("/api/entities/") for p in ok
    )


def test_no_key_is_a_401_on_every_route_that_is_not_open(api: Server, project: Config) -> None:
    opened = set()
    for method, template, path, params in _urls(api, _ids(project)):
        status, headers, body = api.request(method, path, **params)
        if not needs_key(path):
            opened.add(template)
            # Posting the login form without a key is its own "unknown key" answer.
            assert status != 401 or (method, path) == ("POST", "/login"), (method, path)
            continue
        assert status == 401, (method, path, params, status)
        assert headers["www-authenticate"] == "Bearer"
        if path.startswith("/api"):
            assert set(json.loads(body)) == {"error"} and "\n" not in body
        else:
            assert '<form class="login"' in body
    assert opened == OPEN
    assert all(is_open(p) for p in OPEN - {"/login", "/logout", "/static"})


def test_past_the_rate_limit_every_counted_route_is_a_429(project: Config) -> None:
    limit = RateLimitSpec(requests=1, per_seconds=600)
    cfg = project.model_copy(update={"serve": ServeSpec(keys=KEYS, rate_limit=limit)})
    with Server(cfg) as server:
        assert server.get("/api/fields", bearer(MASKED))[0] == 200  # the key's one request
        assert server.get("/login")[0] == 200  # the address's one request (login is counted)
        for method, _, path, params in _urls(server, _ids(project)):
            status, headers, body = server.request(method, path, bearer(MASKED), **params)
            if is_open(path):
                assert status != 429, (method, path)
                continue
            assert status == 429, (method, path, params, status)
            assert int(headers["retry-after"]) >= 1, (method, path)
            if path.startswith("/api"):
                assert json.loads(body)["error"].startswith("rate limit exceeded"), body
            else:
                assert "rate limit" in body and headers["content-type"].startswith("text/html")
