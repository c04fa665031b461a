"""The web UI of `crmpipe serve` in headless Chromium (the `browser` fixture): type a query and
submit, click a facet, page, open a record, field-name completion, live facet counts, the
login form, a run's framed report, screenshots of the main pages, and the same search with
JavaScript disabled. Every page loads with no console
error and no request leaving the server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crmpipe.api.access import hash_key
from crmpipe.config.load import load_config
from crmpipe.config.schema import ApiKeySpec, Config, ServeSpec
from crmpipe.demo.datasets import pursuit
from crmpipe.pipeline import run
from support.server import Server

QUERY = "title: finance"
PAGE = 10
KEY = "browser-key-0123456789abcdef"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """A generated case, built once, served with pages of PAGE rows."""
    case = pursuit.generate(tmp_path_factory.mktemp("web_browser"), contacts=400, seed=5)
    cfg = load_config(case.config_path)
    run(cfg)
    return cfg.model_copy(update={"search": cfg.search.model_copy(update={"limit": PAGE})})


@pytest.fixture(scope="module")
def web(project: Config) -> Iterator[Server]:
    with Server(project) as server:
        yield server


class Watched:
    """A page with the console errors, page errors and requests seen while it was open."""

    def __init__(self, browser: Any, base: str, **context: Any) -> None:
        self.base = base
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def goto(self, path: str) -> Any:
        self.page.goto(self.base + path)
        return self.page

    def check(self) -> None:
        """No console error, and every request went to the server."""
        assert self.errors == []
        assert self.requests and all(u.startswith(self.base + "/") for u in self.requests)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tab(browser: Any, web: Server) -> Iterator[Watched]:
    watched = Watched(browser, f"http://127.0.0.1:{web.port}")
    yield watched
    watched.check()
    watched.close()


def total(page: Any) -> int:
    return int(page.locator("#total").inner_text().replace(",", ""))


def test_type_a_query_and_see_results(tab: Watched, web: Server) -> None:
    page = tab.goto("/")
    page.fill("#q", QUERY)
    page.press("#q", "Enter")
    page.wait_for_selector("#results")
    _, expected = web.json("/api/search", q=QUERY, limit=PAGE)
    rows = page.locator("#results tbody tr")
    assert rows.count() == PAGE
    assert total(page) == expected["total"]
    first = rows.first.locator("td").first.inner_text()
    assert first == expected["rows"][0]["contact_id"]
    # Paging: the next link shows the next rows of the stable order.
    page.click("#next")
    page.wait_for_url("**offset=10**")
    _, second = web.json("/api/search", q=QUERY, limit=PAGE, offset=PAGE)
    assert (
        page.locator("#results tbody tr td:first-child").first.inner_text()
        == (second["rows"][0]["contact_id"])
    )
    # A result's id opens its record.
    page.locator("#results tbody a[href^='/contacts/']").first.click()
    page.wait_for_selector("#contact")
    assert page.url.startswith(f"{tab.base}/contacts/")
    assert page.locator("#techstack, #entity").count() == 2


def test_clicking_a_facet_adds_the_term_and_narrows(tab: Watched) -> None:
    page = tab.goto("/?q=" + QUERY.replace(" ", "+"))
    before = total(page)
    link = page.locator('section[data-field="state"] li a').first
    value = link.inner_text()
    count = int(link.locator("xpath=../span").inner_text().replace(",", ""))
    link.click()
    page.wait_for_url("**state**")
    assert page.input_value("#q") == f'{QUERY} state:"{value}"'
    assert total(page) == count < before
    assert page.locator("#results tbody tr").count() == min(count, PAGE)


def test_field_names_complete(tab: Watched) -> None:
    page = tab.goto("/")
    page.click("#q")
    page.keyboard.type("title: finance sta")
    offered = page.locator("#completions button")
    offered.first.wait_for()
    assert "state:" in offered.all_inner_texts()
    offered.filter(has_text="state:").first.click()
    assert page.input_value("#q") == "title: finance state:"


def test_facet_counts_follow_the_query_as_it_is_typed(tab: Watched, web: Server) -> None:
    page = tab.goto("/")
    _, expected = web.json("/api/facets", q=QUERY, fields="state", top=10)
    first = expected["fields"]["state"][0]
    page.click("#q")
    page.keyboard.type(QUERY)
    counts = page.locator('section[data-field="state"] li .count')
    page.wait_for_function(
        "n => document.querySelector('section[data-field=state] li .count')?.textContent === n",
        arg=f"{first['count']:,}",
    )
    assert counts.count() == len(expected["fields"]["state"])
    link = page.locator('section[data-field="state"] li a').first
    assert link.inner_text() == first["value"]
    assert f"state%3A%22{first['value']}%22" in (link.get_attribute("href") or "")


def test_search_works_without_javascript(browser: Any, web: Server) -> None:
    tab = Watched(browser, f"http://127.0.0.1:{web.port}", java_script_enabled=False)
    try:
        page = tab.goto("/")
        page.fill("#q", QUERY)
        page.press("#q", "Enter")
        page.wait_for_selector("#results")
        assert page.locator("#results tbody tr").count() == PAGE
        page.locator('section[data-field="state"] li a').first.click()
        page.wait_for_url("**state**")
        assert "state:" in page.input_value("#q")
        page.locator("#results tbody a[href^='/contacts/']").first.click()
        page.wait_for_selector("#contact")
        assert not any(u.endswith("/api/facets") or "/api/" in u for u in tab.requests)
        tab.check()
    finally:
        tab.close()


def test_a_bad_query_shows_its_message(tab: Watched) -> None:
    page = tab.goto("/")
    page.fill("#q", "title: (finance")
    with page.expect_navigation() as nav:
        page.press("#q", "Enter")
    assert nav.value.status == 400
    assert "at column 8" in page.locator("#error").inner_text()
    tab.errors = [e for e in tab.errors if "400" not in e]  # the page's own status, logged


def test_sign_in_with_the_login_form(browser: Any, project: Config) -> None:
    keys = [ApiKeySpec(name="browser", hash=hash_key(KEY), role="full")]
    cfg = project.model_copy(update={"serve": ServeSpec(keys=keys)})
    with Server(cfg) as server:
        tab = Watched(browser, f"http://127.0.0.1:{server.port}")
        try:
            page = tab.goto("/runs")
            assert page.locator("#error").inner_text().startswith("an API key is required")
            page.fill("#key", KEY)
            page.click("form.login button")
            page.wait_for_selector("#runs")
            assert page.url == f"{tab.base}/runs"
            assert all(c["httpOnly"] for c in tab.context.cookies())
            page = tab.goto("/?q=" + QUERY.replace(" ", "+"))
            assert page.locator("#results tbody tr").count() == PAGE
            page.click("text=Sign out")
            page.wait_for_selector("form.login")
            tab.goto("/runs")
            assert page.locator("form.login").count() == 1
            tab.errors = [e for e in tab.errors if "401" not in e]  # the 401 pages, logged
            tab.check()
        finally:
            tab.close()


def test_runs_and_a_framed_report(tab: Watched) -> None:
    page = tab.goto("/runs")
    page.locator("#runs tbody a").first.click()
    page.wait_for_selector("iframe.report")
    frame = page.frame_locator("iframe.report")
    frame.locator("section#checks h2").wait_for()
    assert frame.locator("section#checks h2").inner_text() == "Checks"


def test_screenshots_of_the_main_pages(tab: Watched, tmp_path: Any) -> None:
    page = tab.goto("/?q=" + QUERY.replace(" ", "+"))
    page.set_viewport_size({"width": 1280, "height": 900})
    facets, results = (
        page.locator("#facets").bounding_box(),
        page.locator("#results").bounding_box(),
    )
    assert facets and results and facets["x"] + facets["width"] <= results["x"]  # side by side
    shots = {"search": page.screenshot(path=str(tmp_path / "search.png"), full_page=True)}
    page.locator("#results tbody a[href^='/contacts/']").first.click()
    page.wait_for_selector("#contact")
    shots["contact"] = page.screenshot(path=str(tmp_path / "contact.png"), full_page=True)
    tab.goto("/runs")
    shots["runs"] = page.screenshot(path=str(tmp_path / "runs.png"))
    for name, png in shots.items():
        assert png.startswith(b"\x89PNG") and len(png) > 10_000, name
