"""Why records were merged: a golden record's members side by side, and per linked pair the
comparison levels and match weights that linked it (Splink's waterfall); then the field-level
provenance: each column's surviving value and the source row it came from — a lead column's
for a golden facility of a leads project (`marts.lead_provenance`), else the golden record's
own columns (`core.<x>_field_sources`, written by survivorship).

Splink pairs are explained from their stored predictions (the very numbers clustering used);
pre-pass pairs say which exact rule linked them, with Splink's view of them scored on the spot
with the stored model (term frequencies counted over all records).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from crmpipe.config.schema import ResolveSpec
from crmpipe.errors import CrmpipeError
from crmpipe.model import Table
from crmpipe.resolution.facilities import FEATURES, feature_select, is_facility_table
from crmpipe.resolution.features import derive_features, feature_columns, feature_source
from crmpipe.resolution.tables import ResolvedTables
from crmpipe.sqltext import quote_ident
from crmpipe.warehouse.connection import table_exists


class ExplainError(CrmpipeError):
    """Nothing to explain (unknown id, no resolution yet); one line."""


#: The leads product's field-level provenance, written by crmpipe.marts.leads (read here by
#: name: resolution sits below the marts) and the leads table whose column order it follows.
LEAD_PROVENANCE = ("marts", "lead_provenance")
LEADS = ("marts", "leads")


@dataclass
class Provenance:
    """One lead column of a golden facility: the surviving value and the source row it came
    from (source, file, the data row's number in that file)."""

    column: str
    value: str | None
    source: str | None
    file: str | None
    row: int | None


@dataclass
class Step:
    """One bar of the waterfall: a comparison, its level, the two values and the weight."""

    comparison: str
    level: str
    left: Any
    right: Any
    match_weight: float
    tf_adjustment: float = 0.0


@dataclass
class PairExplanation:
    left: str
    right: str
    rule: str
    match_probability: float
    match_weight: float | None
    prior_weight: float | None = None
    steps: list[Step] = field(default_factory=list)
    record: dict[str, Any] | None = None  # the stored prediction row (for the chart)


@dataclass
class Split:
    """A link cut when a cluster was split (docs/resolve.md): its two records, probability, the
    rule that made it, why it was cut, and the golden record on the other side."""

    left: str
    right: str
    match_probability: float
    rule: str
    reason: str
    other_golden_id: str


@dataclass
class Explanation:
    table: str
    golden_id: str
    columns: list[str]
    members: list[dict[str, Any]]
    pairs: list[PairExplanation]
    model: dict[str, Any]
    #: Each lead column's value and origin (facilities of a leads project; else empty).
    provenance: list[Provenance] = field(default_factory=list)
    #: Links cut from this record's cluster when it was split (weak link or size cap).
    splits: list[Split] = field(default_factory=list)


def lead_provenance(con: duckdb.DuckDBPyConnection, golden_id: str) -> list[Provenance]:
    """Field-level provenance of golden facility `golden_id`: one row per lead column that has
    a value, in the leads table's column order (empty when the project builds no leads)."""
    if not table_exists(con, *LEAD_PROVENANCE):
        return []
    rows = con.execute(
        "SELECT p.column_name, CAST(p.value AS VARCHAR), p.source, p.file, p.row "
        "FROM marts.lead_provenance p LEFT JOIN information_schema.columns c "
        "ON c.table_schema = ? AND c.table_name = ? AND c.column_name = p.column_name "
        "WHERE p.entity_id = ? ORDER BY c.ordinal_position NULLS LAST, p.column_name",
        [*LEADS, golden_id],
    ).fetchall()
    return [Provenance(*r) for r in rows]


def field_provenance(
    con: duckdb.DuckDBPyConnection, tbl: Table, golden_id: str, members: list[dict[str, Any]]
) -> list[Provenance]:
    """Each column of golden record `golden_id` with a value, and the member record it came
    from: the only member when it is alone, else `core.<x>_field_sources`. A list unioned
    from every member (emails) has no single origin: its source reads `all members`."""
    key = tbl.key[0]
    cols = [c for c in tbl.column_names if c != key]
    if len(members) == 1:
        m = members[0]
        return [
            Provenance(c, _text(m.get(c)), m["_source"], m["_file"], m["_row"])
            for c in cols
            if m.get(c) is not None
        ]
    t = ResolvedTables(tbl.name)
    golden = con.execute(
        f"SELECT * FROM core.{quote_ident(tbl.name)} WHERE CAST({quote_ident(key)} AS VARCHAR) = ?",
        [golden_id],
    )
    names = [d[0] for d in golden.description]
    found = golden.fetchall()
    row = found[0] if found else None
    if row is None or not table_exists(con, "core", t.field_sources.split(".")[1]):
        return []
    values = dict(zip(names, row, strict=True))
    origin = {
        r[0]: r[1:]
        for r in con.execute(
            f'SELECT column_name, source, file, "row" FROM {t.field_sources} WHERE golden_id = ?',
            [golden_id],
        ).fetchall()
    }
    out = []
    for c in cols:
        if values.get(c) is None:
            continue
        source, file, line = origin.get(c, ("all members", None, None))
        out.append(Provenance(c, _text(values[c]), source, file, line))
    return out


def _text(value: Any) -> str | None:
    """A value as explain prints it (lists joined)."""
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _level_labels(model: dict[str, Any]) -> dict[str, dict[int, str]]:
    """comparison → gamma value → level label (Splink numbers non-null levels downwards)."""
    out: dict[str, dict[int, str]] = {}
    for comp in model.get("comparisons", []):
        levels = comp["comparison_levels"]
        non_null = [lv for lv in levels if not lv.get("is_null_level")]
        labels = {-1: "missing"}
        for i, lv in enumerate(non_null):
            labels[len(non_null) - 1 - i] = lv.get("label_for_charts", "")
        out[comp["output_column_name"]] = labels
    return out


def _rescore(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    spec: ResolveSpec,
    model: dict[str, Any],
    rids: tuple[int, int],
) -> dict[str, Any] | None:
    """Splink's view of a pair the pre-pass linked (Splink never scored it): the pair scored
    now with the stored model, term frequencies counted over all records."""
    from splink import DuckDBAPI, Linker

    from crmpipe.resolution.scoring import splink_connection

    t = ResolvedTables(tbl.name)
    if is_facility_table(tbl, spec):
        raw = "_phone_raw" in con.table(t.records).columns
        every = feature_select(t.records, tbl.key[0], raw_phone=raw)
        exprs = {c: quote_ident(c) for c in FEATURES}
        source = f"({every})"
        rel = con.execute(
            f"SELECT *, _rid AS _pg FROM ({every}) WHERE _rid IN (?, ?) ORDER BY _rid",
            list(rids),
        )
    else:
        cols = feature_columns(tbl, derive_features(tbl, spec))
        exprs = dict(cols)
        source = t.records
        feats = ", ".join(f"{expr} AS {quote_ident(name)}" for name, expr in cols)
        rows = f"(SELECT * FROM {t.records} WHERE _rid IN (?, ?))"
        rel = con.execute(
            f"SELECT _rid, {quote_ident(tbl.key[0])}, {feats}, _rid AS _pg "
            f"FROM {feature_source(tbl, derive_features(tbl, spec), rows)} ORDER BY _rid",
            list(rids),
        )
    names = [d[0] for d in rel.description]
    records = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    if len(records) != 2:
        return None
    tf_cols = {
        lv["tf_adjustment_column"]
        for comp in model.get("comparisons", [])
        for lv in comp["comparison_levels"]
        if lv.get("tf_adjustment_column")
    }
    total = con.execute(f"SELECT count(*) FROM {t.records}").fetchone()[0] or 1
    for col in tf_cols & set(exprs):
        values = [r[col] for r in records if r[col] is not None]
        counts = dict(
            con.execute(
                f"SELECT v, count(*) FROM (SELECT {exprs[col]} AS v FROM {source}) "
                "WHERE v IN (SELECT unnest(?)) GROUP BY v",
                [values],
            ).fetchall()
        )
        for r in records:
            r[f"tf_{col}"] = counts.get(r[col], 1) / total if r[col] is not None else None
    scon = splink_connection()
    try:
        scon.register("_two", pa.Table.from_pylist(records))
        scon.execute("CREATE TABLE records AS SELECT * FROM _two").fetchall()
        linker = Linker(DuckDBAPI(connection=scon).register("records"), model,
                        validate_settings=False)  # fmt: skip
        got = linker.inference.score_pair(records[0], records[1]).as_record_list()
    finally:
        scon.close()
    return got[0] if got else None


def explain(
    con: duckdb.DuckDBPyConnection,
    tbl: Table,
    golden_id: str,
    spec: ResolveSpec | None = None,
) -> Explanation:
    """The members and links of golden record `golden_id` of `tbl`."""
    t = ResolvedTables(tbl.name)
    key = tbl.key[0]
    try:
        rids = con.execute(
            f"SELECT r._rid FROM {t.clusters} c JOIN {t.records} r USING (_rid) "
            "WHERE c.golden_id = ? ORDER BY r._rec DESC",
            [golden_id],
        ).fetchall()
    except duckdb.CatalogException:
        raise ExplainError(f"{tbl.name}: not resolved yet; run 'crmpipe run'") from None
    if not rids:
        raise ExplainError(f"no {t.singular} with id {golden_id!r}")
    ids = [r[0] for r in rids]
    cols = [c for c in tbl.column_names]
    rel = con.execute(
        f"SELECT {', '.join(quote_ident(c) for c in cols)}, _source, _file, _row "
        f"FROM {t.records} WHERE _rid IN (SELECT unnest(?)) ORDER BY _rec DESC",
        [ids],
    )
    names = [d[0] for d in rel.description]
    members = [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
    row = con.execute(
        "SELECT settings_json FROM meta.resolve_models WHERE table_name = ? "
        "ORDER BY created_at DESC LIMIT 1",
        [tbl.name],
    ).fetchone()
    model = json.loads(row[0]) if row else {}
    labels = _level_labels(model)
    prior = model.get("probability_two_random_records_match")
    prior_w = math.log2(prior / (1 - prior)) if prior else None
    pairs_rel = con.execute(
        f'SELECT "{key}_l", "{key}_r", rule, match_probability, match_weight, _rid_l, _rid_r '
        f"FROM {t.pairs} WHERE _rid_l IN (SELECT unnest(?)) ORDER BY match_probability DESC",
        [ids],
    )
    pairs: list[PairExplanation] = []
    for left, right, rule, p, w, rl, rr in pairs_rel.fetchall():
        pe = PairExplanation(str(left), str(right), rule, float(p), w, prior_w)
        pred = con.execute(
            f"SELECT * FROM {t.predictions} WHERE (_rid_l = ? AND _rid_r = ?) "
            "OR (_rid_l = ? AND _rid_r = ?)",
            [rl, rr, rr, rl],
        )
        cols_p = [d[0] for d in pred.description]
        got = pred.fetchone()
        rec = dict(zip(cols_p, got, strict=True)) if got else None
        if rec is None and model:
            try:
                rec = _rescore(con, tbl, spec or ResolveSpec(), model, (rl, rr))
            except Exception:  # noqa: BLE001 - the rule alone still explains the link
                rec = None
        if rec:
            pe.record = rec
            if rule == "splink":
                pe.match_weight = rec["match_weight"]
            for comp, levels in labels.items():
                gamma = rec.get(f"gamma_{comp}")
                if gamma is None:
                    continue
                pe.steps.append(
                    Step(
                        comp,
                        levels.get(int(gamma), str(gamma)),
                        rec.get(f"{comp}_l"),
                        rec.get(f"{comp}_r"),
                        float(rec.get(f"mw_{comp}") or 0.0),
                        float(rec.get(f"mw_tf_adj_{comp}") or 0.0),
                    )
                )
        pairs.append(pe)
    provenance = lead_provenance(con, golden_id) if tbl.name == "entities" else []
    if not provenance:
        provenance = field_provenance(con, tbl, golden_id, members)
    return Explanation(
        tbl.name, golden_id, cols, members, pairs, model, provenance, _splits(con, tbl, ids)
    )


def _splits(con: duckdb.DuckDBPyConnection, tbl: Table, ids: list[int]) -> list[Split]:
    """The links cut between records `ids` and records now in other golden records."""
    t = ResolvedTables(tbl.name)
    if not table_exists(con, "resolved", t.splits.split(".")[1]):
        return []
    kl, kr = quote_ident(tbl.key[0] + "_l"), quote_ident(tbl.key[0] + "_r")
    rows = con.execute(
        f"SELECT CAST(s.{kl} AS VARCHAR), CAST(s.{kr} AS VARCHAR), s.match_probability, s.rule, "
        "s.reason, CASE WHEN s._rid_l IN (SELECT unnest($ids)) THEN cr.golden_id "
        f"ELSE cl.golden_id END FROM {t.splits} s "
        f"JOIN {t.clusters} cl ON cl._rid = s._rid_l JOIN {t.clusters} cr ON cr._rid = s._rid_r "
        "WHERE s._rid_l IN (SELECT unnest($ids)) OR s._rid_r IN (SELECT unnest($ids)) "
        "ORDER BY s.match_probability",
        {"ids": ids},
    ).fetchall()
    return [Split(a, b, float(p), rule, why, other) for a, b, p, rule, why, other in rows]


def waterfall_html(explanation: Explanation, path: Path) -> int:
    """Write Splink's waterfall chart of the explained Splink-scored pairs; return how many."""
    from crmpipe.resolution.scoring import splink_connection

    records = [p.record for p in explanation.pairs if p.record]
    if not records:
        path.write_text(
            "<html><body><p>Every link of this record came from the exact pre-pass "
            "(same email, or same phone and name); Splink did not need to score it.</p>"
            "</body></html>",
            encoding="utf-8",
        )
        return 0
    from splink import DuckDBAPI, Linker

    sample = records[0]
    inputs = sorted({k[:-2] for k in sample if k.endswith("_l")} - {"_rid"})
    inputs = [k for k in inputs if not k.startswith(("tf_", "gamma_", "mw_"))]
    con = splink_connection()
    try:
        select = ", ".join(["1::BIGINT AS _rid"] + [f'NULL AS "{c}"' for c in inputs])
        con.execute(f"CREATE TABLE records AS SELECT {select} WHERE false")
        db_api = DuckDBAPI(connection=con)
        linker = Linker(db_api.register("records"), explanation.model, validate_settings=False)
        chart = linker.visualisations.waterfall_chart(
            [{k: (str(v) if hasattr(v, "isoformat") else v) for k, v in r.items()}
             for r in records],
            filter_nulls=False,
        )  # fmt: skip
        path.write_text(chart.to_html(inline=True), encoding="utf-8")
    finally:
        con.close()
    return len(records)
