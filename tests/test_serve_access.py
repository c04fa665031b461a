"""Access to the HTTP API (`crmpipe serve`): API keys from crmpipe.yml (stored hashed), 401s,
the `masked` role over every endpoint (no email, phone or person name of the fixture in any
answer, JSON or CSV), and the rate limit's 429. A real uvicorn server on a free loopback port,
queried with urllib, over a built generated case."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from crmpipe.api.access import hash_key
from crmpipe.api.server import is_loopback
from crmpipe.config.load import ConfigError, load_config, parse_config
from crmpipe.config.schema import ApiKeySpec, Config, RateLimitSpec, ServeSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.marts.pii import mask_email, mask_email_sql, mask_phone, mask_text, mask_text_sql
from crmpipe.pipeline import run
from crmpipe.publish import publish_build
from crmpipe.publish.pgserver import free_port
from crmpipe.serve import open_store
from support.server import Server

FULL, MASKED, OTHER = "full-key-0123456789abcdef", "masked-key-0123456789abcdef", "other-key-xyz"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A generated case, built once."""
    case = pursuit.generate(tmp_path_factory.mktemp("access"), contacts=300, seed=7)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg


def with_serve(cfg: Config, **serve: Any) -> Config:
    return cfg.model_copy(update={"serve": ServeSpec(**serve)})


KEYS = [
    ApiKeySpec(name="analyst", hash=hash_key(FULL), role="full"),
    ApiKeySpec(name="partner", hash=hash_key(MASKED), role="masked"),
]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def api(project: Config) -> Iterator[Server]:
    with Server(with_serve(project, keys=KEYS)) as server:
        yield server


def test_keys_are_required(api: Server) -> None:
    for headers in ({}, bearer("wrong"), {"X-API-Key": "wrong"}, {"Authorization": "Basic x"}):
        status, hdrs, body = api.get("/api/fields", headers)
        assert status == 401, headers
        assert hdrs["content-type"].startswith("application/json")
        assert "\n" not in body and "error" in json.loads(body)
        assert "wrong" not in body  # a key is never echoed
    assert api.get("/api/fields", bearer(FULL))[0] == 200
    assert api.get("/api/fields", {"X-API-Key": MASKED})[0] == 200
    assert api.get("/api/nothing", bearer(FULL))[0] == 404
    # The API's description stays open.
    assert api.get("/openapi.json")[0] == 200
    assert api.get("/docs")[0] == 200


def _pii(cfg: Config) -> tuple[set[str], set[str], set[str]]:
    """(names, emails, phone digits) of the fixture, from core and raw."""
    names: set[str] = set()
    emails: set[str] = set()
    phones: set[str] = set()
    with open_store(cfg, None) as con:
        for first, last, full, mails, phone in con.execute(
            "SELECT first_name, last_name, full_name, emails, phone FROM core.contacts"
        ).fetchall():
            names.update(v for v in (first, last, full) if v)
            emails.update(mails or [])
            if phone:
                phones.add(re.sub(r"\D", "", phone))
        for first, last, mail, phone in con.execute(
            "SELECT first_name, last_name, email, phone FROM raw.contacts"
        ).fetchall():
            names.update(v for v in (first, last) if v)
            if mail:
                emails.add(mail.strip())
            if phone and len(re.sub(r"\D", "", phone)) >= 7:
                phones.add(re.sub(r"\D", "", phone))
        for mails, phone in con.execute("SELECT email, phone FROM core.entities").fetchall():
            emails.update(mails or [])
            if phone:
                phones.add(re.sub(r"\D", "", phone))
    names = {n.lower().strip() for n in names if sum(c.isalpha() for c in n) >= 2}
    return names, {e.lower() for e in emails if "@" in e}, phones


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif value is not None:
        yield str(value)


def _leaks(texts: list[str], pii: tuple[set[str], set[str], set[str]]) -> list[str]:
    names, emails, phones = pii
    found = []
    for text in texts:
        low = text.lower()
        if low.strip() in names:
            found.append(text)
        if "@" in low and any(e in low for e in emails):
            found.append(text)
        digits = re.sub(r"\D", "", text)
        if len(digits) >= 7 and any(p in digits for p in phones if len(p) >= 7):
            found.append(text)
    return found


def _answers(api: Server, key: str, cfg: Config) -> list[str]:
    """Every leaf value of every endpoint's answer to `key` (CSV cells split at ';')."""
    texts: list[str] = []
    with open_store(cfg, None) as con:
        (merged,) = con.execute(
            "SELECT golden_id FROM core.contact_sources GROUP BY golden_id "
            "ORDER BY count(*) DESC, golden_id LIMIT 1"
        ).fetchone()
        (entity,) = con.execute(
            "SELECT entity_id FROM core.contacts GROUP BY entity_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    h = bearer(key)
    pages = [
        ("/api/search", {"q": "title: finance", "limit": 200}),
        ("/api/search", {"q": "state: CA,TX,NY,FL,OH", "limit": 200}),
        ("/api/facets", {"fields": "full_name,first_name,last_name,emails,phone,state", "top": 50}),
        (f"/api/contacts/{merged}", {}),
        (f"/api/entities/{entity}", {}),
        ("/api/runs", {}),
        ("/api/fields", {}),
    ]
    for path, params in pages:
        status, _, body = api.get(path, h, **params)
        assert status == 200, (path, body)
        texts.extend(_leaves(json.loads(body)))
    status, _, body = api.get("/api/search", h, q="title: finance", limit=200, format="csv")
    assert status == 200
    for row in csv.reader(io.StringIO(body)):
        for cell in row:
            texts.extend(cell.split(";"))
    (run_id,) = [r["run_id"] for r in json.loads(api.get("/api/runs", h, limit=1)[2])]
    status, _, body = api.get(f"/api/runs/{run_id}/report", h)
    assert status == 200
    texts.extend(_leaves(json.loads(body)))
    return texts


def test_a_masked_key_never_sees_pii(api: Server, project: Config) -> None:
    pii = _pii(project)
    assert all(pii)
    assert _leaks(_answers(api, FULL, project), pii), "the full key sees the PII (sanity)"
    assert _leaks(_answers(api, MASKED, project), pii) == []


def test_masked_values_follow_the_pii_rules(api: Server) -> None:
    _, _, body = api.get("/api/search", bearer(MASKED), q="title: finance", limit=5)
    row = json.loads(body)["rows"][0]
    assert re.fullmatch(r"[A-Z]\*\*\*( [A-Z]\*\*\*)*", row["full_name"])
    assert all(re.fullmatch(r"[a-z0-9]\*\*\*@[^@]+", e) for e in row["emails"])
    if row.get("phone"):
        assert re.fullmatch(r"[^0-9]*\**\d\d", row["phone"])
    assert row.get("document") is None
    _, _, body = api.get("/api/facets", bearer(MASKED), fields="last_name", top=5)
    values = json.loads(body)["fields"]["last_name"]
    assert all(re.fullmatch(r"[A-Z]\*\*\*", v["value"]) for v in values)


def test_a_masked_key_cannot_query_pii(api: Server, project: Config) -> None:
    """A match count would tell whether a value exists: a masked key's query may test no PII
    field (by name, alias or through a shorthand) and no free text (the document holds the
    emails), in search and facets alike; the full key is unaffected."""
    with open_store(project, None) as con:
        (email,) = con.execute(
            "SELECT emails[1] FROM core.contacts WHERE len(emails) > 0 LIMIT 1"
        ).fetchone()
    refused = [
        f"emails: {email}",
        "full_name: a",
        "last_name: smith",
        "first_name: a state: CA",
        "phone: 555",
        "finance",
        '"finance director"',
        "title: finance OR -emails: x",
        "state: CA (finance)",
    ]
    for q in refused:
        for path, extra in (("/api/search", {}), ("/api/facets", {"fields": "state"})):
            status, hdrs, body = api.get(path, bearer(MASKED), q=q, **extra)
            assert status == 403, (path, q, body)
            assert hdrs["content-type"].startswith("application/json")
            message = json.loads(body)["error"]
            assert message.startswith("masked keys can't search personal fields ("), message
            assert message.endswith("); ask for a full key") and "\n" not in message
            assert email not in message
            assert api.get(path, bearer(FULL), q=q, **extra)[0] == 200, (path, q)
    for q in ("state: CA", "title: finance", "title: finance state: CA,TX -crm: x"):
        for path, extra in (("/api/search", {}), ("/api/facets", {"fields": "state"})):
            status, _, body = api.get(path, bearer(MASKED), q=q, **extra)
            assert status == 200, (path, q, body)
    # An empty facet query counts everything; a bad query is still the parser's 400.
    assert api.get("/api/facets", bearer(MASKED), fields="state")[0] == 200
    assert api.get("/api/search", bearer(MASKED), q="title: (finance")[0] == 400


def test_a_masked_key_cannot_query_pii_through_aliases_or_shorthands(project: Config) -> None:
    spec = project.search.model_copy(
        update={
            "aliases": {**project.search.aliases, "mail": "emails", "job": "title"},
            "shorthands": {
                **project.search.shorthands,
                "who": "last_name:{1}",
                "role": "title:{1}",
            },
        }
    )
    cfg = with_serve(project.model_copy(update={"search": spec}), keys=KEYS)
    with Server(cfg) as server:
        for q in ("mail: x@y.org", "who: smith"):
            assert server.get("/api/search", bearer(MASKED), q=q)[0] == 403, q
            assert server.get("/api/search", bearer(FULL), q=q)[0] == 200, q
        for q in ("job: finance", "role: finance"):
            assert server.get("/api/search", bearer(MASKED), q=q)[0] == 200, q


def test_a_masked_key_on_postgresql(project: Config, pg_db: str) -> None:
    publish_build(project, pg_db)
    pii = _pii(project)
    with Server(with_serve(project, keys=KEYS), pg_db) as server:
        texts: list[str] = []
        for key in (FULL, MASKED):
            texts = []
            for params in ({"q": "title: finance", "limit": 200}, {"q": "state: CA,TX,NY"}):
                status, _, body = server.get("/api/search", bearer(key), **params)
                assert status == 200, body
                texts.extend(_leaves(json.loads(body)))
            status, _, body = server.get(
                "/api/facets", bearer(key), fields="full_name,emails,phone", top=50
            )
            assert status == 200, body
            texts.extend(_leaves(json.loads(body)))
            contact = json.loads(server.get("/api/search", bearer(FULL), q="title: finance")[2])
            cid = contact["rows"][0]["contact_id"]
            status, _, body = server.get(f"/api/contacts/{cid}", bearer(key))
            assert status == 200, body
            texts.extend(_leaves(json.loads(body)))
            if key == FULL:
                assert _leaks(texts, pii)
        assert _leaks(texts, pii) == []


def test_python_masks_match_the_sql_masks() -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET VARIABLE crmpipe_pii_salt = 's'")
    names = ("Ashley Gonzalez", "  de la  Cruz ", "x")
    emails = ("crystal@example.org", "Bob@X.io", "nodomain")
    con.execute("CREATE TABLE v (x VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[v] for v in (*names, *emails)])
    for mode in ("initials", "hash"):
        for name in names:
            sql = f"SELECT {mask_text_sql('x', mode)} FROM v WHERE x = ?"
            assert mask_text(name, mode, "s") == con.execute(sql, [name]).fetchone()[0]
        for email in emails:
            sql = f"SELECT {mask_email_sql('x', mode)} FROM v WHERE x = ?"
            assert mask_email(email, mode, "s") == con.execute(sql, [email]).fetchone()[0]
    assert mask_phone("+19798125438", "initials") == "+*********38"
    assert mask_phone("(979) 812-5438", "initials") == "(***) ***-**38"


def test_rate_limit_per_key(project: Config) -> None:
    cfg = with_serve(project, keys=KEYS, rate_limit=RateLimitSpec(requests=3, per_seconds=60))
    with Server(cfg) as server:
        assert [server.get("/api/fields", bearer(FULL))[0] for _ in range(3)] == [200] * 3
        status, headers, body = server.get("/api/fields", bearer(FULL))
        assert status == 429
        assert int(headers["retry-after"]) >= 1
        assert "\n" not in body and "rate limit" in json.loads(body)["error"]
        assert server.get("/api/fields", bearer(MASKED))[0] == 200  # another key: its own window
        assert server.get("/openapi.json")[0] == 200  # not limited


def test_rate_limit_without_keys_is_per_address(project: Config) -> None:
    cfg = with_serve(project, rate_limit=RateLimitSpec(requests=2, per_seconds=60))
    with Server(cfg) as server:
        assert [server.get("/api/fields")[0] for _ in range(3)] == [200, 200, 429]


def test_config_errors_are_one_line(tmp_path: Any) -> None:
    good = hash_key(FULL)
    text = f"serve:\n  keys:\n    - {{name: ci, hash: '{good}', role: full}}\n"
    cfg = parse_config(text)
    assert cfg.serve.keys[0].hash == good and cfg.serve.rate_limit is None
    cases = {
        "serve:\n  keys:\n    - {name: ci, hash: 'abc', role: full}\n": "serve.keys.0.hash",
        f"serve:\n  keys:\n    - {{name: ci, hash: '{good}', role: admin}}\n": "serve.keys.0.role",
        f"serve:\n  keys:\n    - {{name: ci, hash: '{good}'}}\n": "required key is missing",
        "serve:\n  rate_limit: {requests: 0}\n": "serve.rate_limit.requests",
        "serve:\n  rate_limit: {requests: 5, per_second: 1}\n": "did you mean",
        "serve:\n  key: []\n": "did you mean 'keys'",
        f"serve:\n  keys:\n    - {{name: ci, hash: '{good}', role: full}}\n"
        f"    - {{name: ci, hash: '{hash_key(OTHER)}', role: masked}}\n": "names another key",
    }
    for bad, expected in cases.items():
        with pytest.raises(ConfigError) as exc:
            parse_config(bad)
        assert expected in str(exc.value) and "\n" not in str(exc.value), str(exc.value)


def test_hash_key_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "from crmpipe.cli import app; app()", "serve", "--hash-key"],
        input=FULL + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"hash: {hash_key(FULL)}"
    assert FULL not in done.stdout + done.stderr


def test_an_open_api_on_the_network_warns(project: Config) -> None:
    port = free_port()
    command = [sys.executable, "-c", "from crmpipe.cli import app; app()", "serve"]
    args = ["-c", str(project.path), "--host", "0.0.0.0", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
    finally:
        proc.terminate()
        proc.wait(20)
    assert "warning: no API keys" in lines[0], lines
    assert "serving on http://0.0.0.0" in lines[1], lines


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
