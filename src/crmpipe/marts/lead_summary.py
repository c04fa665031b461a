"""The leads product's figures for a build (the demo's and the report's): facility rows per
source, golden facilities, those merged across lists, matched to the CRM's leads, or new."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from crmpipe.config.schema import Config
from crmpipe.marts.leads import LEADS, crm_sources, member_sql
from crmpipe.sqltext import sql_str


@dataclass
class LeadSummary:
    """What the leads product says about a build: the demo's and the report's figures."""

    rows_per_source: dict[str, int]  # facility rows each source gave
    facilities: int  # golden facilities (one lead each)
    in_several_lists: int  # facilities merged across two or more agency lists
    matched_crm: int  # facilities of the lists the CRM already has as a lead
    new_leads: int  # facilities of the lists the CRM doesn't have
    crm_only: int  # CRM leads no list mentions


def lead_summary(con: duckdb.DuckDBPyConnection, cfg: Config) -> LeadSummary:
    """Counts of marts.leads: per source, merged across lists, matched to the CRM, new."""
    crm = crm_sources(cfg)
    crm_list = "[" + ", ".join(sql_str(s) for s in crm) + "]::VARCHAR[]"
    records, _ = member_sql(con)
    per_source = dict(
        con.execute(f"SELECT _source, count(*) FROM ({records}) GROUP BY 1 ORDER BY 1").fetchall()
    )
    lists = f"list_filter(sources, lambda s: NOT list_contains({crm_list}, s))"
    facilities, several, matched, new, crm_only = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE len({lists}) >= 2), "
        f"count(*) FILTER (WHERE len({lists}) >= 1 AND NOT is_new_lead), "
        f"count(*) FILTER (WHERE len({lists}) >= 1 AND is_new_lead), "
        f"count(*) FILTER (WHERE len({lists}) = 0) FROM {LEADS}"
    ).fetchone()
    return LeadSummary(per_source, facilities, several, matched, new, crm_only)
