"""`crmpipe demo CASE`: generate a case's source files, run the pipeline, answer sample queries.

The demo always starts from a fresh warehouse in its folder, so the answers it prints are
exactly those of the files it just generated.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.demo.crm_merge import CrmMergeFigures, crm_merge_figures
from crmpipe.demo.datasets import childcare_case, crm_merge, movers, pipedrive, pursuit
from crmpipe.errors import CrmpipeError
from crmpipe.funnel.chart import write_funnel_chart
from crmpipe.funnel.query import FunnelResult, funnel
from crmpipe.init.guess import init
from crmpipe.marts.lead_summary import LeadSummary, lead_summary
from crmpipe.marts.movers_summary import MoversSummary, movers_summary
from crmpipe.pipeline import Reporter, RunSummary, run
from crmpipe.quality.engine import CheckOutcome
from crmpipe.quality.marts import latest_mart_checks
from crmpipe.search import SearchResult, search
from crmpipe.warehouse.connection import connect

#: The public-sector case's reference queries, exactly as users type them (docs/benchmarks.md).
REFERENCE_QUERIES = ("title: finance", "filter: bob Accela >10000", "crm: a")

#: The childcare case's sample facility searches (docs/query-language.md, "Searching
#: facilities").
CHILDCARE_QUERIES = ("state:TX capacity>50", "name: montessori", "type: family state:OK")


def _opts(cfg: Config) -> dict[str, object]:
    return {
        "aliases": cfg.search.aliases,
        "shorthands": cfg.search.shorthands,
        "count_cap": cfg.search.count_cap,
    }


CASES = {
    "pursuit": "public-sector contacts search (places, techstacks, customer mappings)",
    "pipedrive": "sales funnel from a Pipedrive export (the real one in ../shared/data when there)",
    "childcare": "childcare leads: agency lists merged and matched to CRM leads (the real ones "
    "in ../shared/data when there)",
    "movers": "mover CRM: per-branch customers and jobs → golden customers, job marts, SLAs",
    "crm-merge": "two CRMs into one: HubSpot and Salesforce contact exports → golden contacts "
    "and companies (docs/crm-merge.md)",
}


class DemoError(CrmpipeError):
    """Unknown case or bad demo arguments; one line."""


@dataclass
class DemoResult:
    case: str
    folder: Path
    config_path: Path
    summary: RunSummary
    answers: list[tuple[str, SearchResult]] = field(default_factory=list)
    # The sales-funnel case answers with its funnel, its data checks and the charts it wrote.
    funnel: FunnelResult | None = None
    checks: list[CheckOutcome] = field(default_factory=list)
    charts: list[Path] = field(default_factory=list)
    # The childcare case answers with its leads' figures.
    leads: LeadSummary | None = None
    # The mover case answers with unification, duplicate jobs and rolling counts.
    movers: MoversSummary | None = None
    # The two-CRM case answers with people and companies before → after, scored.
    crm: CrmMergeFigures | None = None
    # Follow-up commands, one per line, that run as printed.
    hints: list[str] = field(default_factory=list)


def demo(
    case: str = "pursuit",
    *,
    folder: Path | None = None,
    contacts: int = 100_000,
    facilities: int = 3000,
    customers: int = 20_000,
    branches: int = 8,
    seed: int = 0,
    limit: int = 5,
    reporter: Reporter | None = None,
) -> DemoResult:
    """Generate `case` into `folder`, run it on a fresh warehouse, answer its reference queries."""
    if case not in CASES:
        raise DemoError(f"unknown demo case {case!r}; available: {', '.join(CASES)}")
    if contacts < 1:
        raise DemoError("--contacts must be at least 1")
    if facilities < 1:
        raise DemoError("--facilities must be at least 1")
    folder = Path(folder or Path("demo") / case)
    folder.mkdir(parents=True, exist_ok=True)
    if case == "movers":
        if customers < 1 or not 1 <= branches <= len(movers.mv.BRANCHES):
            raise DemoError(
                f"--customers must be at least 1 and --branches 1 to {len(movers.mv.BRANCHES)}"
            )
        generated = movers.generate(folder, customers=customers, branches=branches, seed=seed)
    elif case == "pipedrive":
        generated = pipedrive.generate(folder, seed=seed)
    elif case == "childcare":
        generated = childcare_case.generate(folder, facilities=facilities, seed=seed)
    elif case == "crm-merge":  # the project file is init's guess, used as it is
        generated = crm_merge.generate(folder, contacts=contacts, seed=seed)
        init(folder / "data", output=generated.config_path, force=True)
    else:
        generated = pursuit.generate(folder, contacts=contacts, seed=seed)
    cfg = load_config(generated.config_path)
    shutil.rmtree(cfg.warehouse_path.parent, ignore_errors=True)
    summary = run(cfg, reporter=reporter)
    result = DemoResult(case, folder, generated.config_path, summary)
    if case == "pipedrive":
        con = connect(cfg.warehouse_path, read_only=True)
        try:
            result.funnel, result.checks = funnel(con), latest_mart_checks(con)
        finally:
            con.close()
        result.charts = [
            write_funnel_chart(result.funnel, folder / f"funnel{suffix}")
            for suffix in (".svg", ".html", ".png")
        ]
        path = generated.config_path
        result.hints.append(
            f"Project file: {path}  ·  try: crmpipe funnel -c {path} --from 2024-03 --to 2024-08"
        )
        return result
    con = connect(cfg.warehouse_path, read_only=True)
    if case == "movers":
        try:
            result.movers = movers_summary(con, folder / "data" / "truth_jobs.csv")
        finally:
            con.close()
        path = generated.config_path
        result.hints += [
            f"Customers found vs planted: crmpipe resolve -c {path} --evaluate "
            f"{generated.truth_path}",
            f"Why records merged: crmpipe explain customer ID -c {path}  ·  the marts: "
            f"crmpipe shell -c {path}, then select * from marts.jobs_duplicates",
        ]
        return result
    if case == "crm-merge":
        try:
            result.crm = crm_merge_figures(con, generated.truth_path)
        finally:
            con.close()
        path = generated.config_path
        result.hints += [
            f'Project file: {path}  ·  try: crmpipe search -c {path} "salesforce_ids:003…"',
            f"Why a company is one: crmpipe explain -c {path} entity <golden id>",
        ]
        return result
    if case == "childcare":
        try:
            result.leads = lead_summary(con, cfg)
            for query in CHILDCARE_QUERIES:
                answer = search(con, query, limit=limit, table="facilities", **_opts(cfg))
                result.answers.append((query, answer))
        finally:
            con.close()
        path = generated.config_path
        result.hints.append(
            f"Project file: {path}  ·  the leads: crmpipe shell -c {path}, "
            "then select * from marts.leads"
        )
        if generated.truth_path.exists():
            result.hints.append(
                f"Facilities found vs planted: crmpipe resolve -c {path} "
                f"--evaluate {generated.truth_path}"
            )
        return result
    try:
        for query in REFERENCE_QUERIES:
            answer = search(
                con,
                query,
                aliases=cfg.search.aliases,
                shorthands=cfg.search.shorthands,
                limit=limit,
                count_cap=cfg.search.count_cap,
            )
            result.answers.append((query, answer))
    finally:
        con.close()
    path = generated.config_path
    result.hints += [
        f'Project file: {path}  ·  try: crmpipe search -c {path} "title: clerk state:CA"',
        f"Data-quality report of this run: crmpipe report -c {path}",
    ]
    truth = path.parent / "resolve_truth.csv"
    if truth.exists():
        result.hints.append(
            f"Duplicates found vs planted: crmpipe resolve -c {path} --evaluate {truth}"
        )
    return result
