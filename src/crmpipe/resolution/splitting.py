"""Clusters beyond connected components: a chained cluster is split at its weakest links.

Connected components join everything a chain of links reaches: A–B at 0.999 and B–C at 0.91
make one person of three records, though nothing says A and C are the same. Two settings of
`resolve:` (docs/resolve.md) bound that:

- `split_below`: a cluster of three or more records whose weakest link is below this second
  threshold is rebuilt without its links below it;
- `max_cluster_size`: a cluster of more records than this is rebuilt under that cap.

A rebuilt cluster is the maximum spanning forest of its links (Kruskal: strongest link first),
skipping links below `split_below` and any link that would join two parts into one larger than
`max_cluster_size`. The links that end up between two parts are the splits: they move from
`resolved.<x>_pairs` to `resolved.<x>_splits` with the reason, and `crmpipe explain` shows
them. Only the offending clusters are read into Python (few, and small); the rest stays in SQL.
Pre-pass links (exact rules, probability 1) are never weak, but may be cut by the size cap.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb
import pyarrow as pa

from crmpipe.sqltext import quote_ident

WEAK = "weak link"
SIZE = "size cap"


def _find(parent: dict[int, int], x: int) -> int:
    """The representative of `x`'s part (with path halving)."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def split_cluster(
    edges: list[tuple[int, int, float]], below: float | None, max_size: int | None
) -> tuple[dict[int, int], list[tuple[int, int, float, str]]]:
    """One cluster's links (a, b, probability) → (record → part label, the splits).

    The part label is the smallest record of the part, as connected components label them.
    Ties in probability are broken by the records' numbers, so the answer is deterministic."""
    parent: dict[int, int] = {}
    size: dict[int, int] = {}
    for a, b, _ in edges:
        for x in (a, b):
            parent.setdefault(x, x)
            size.setdefault(x, 1)
    ordered = sorted(edges, key=lambda e: (-e[2], min(e[0], e[1]), max(e[0], e[1])))
    for a, b, p in ordered:
        if below is not None and p < below:
            continue
        ra, rb = _find(parent, a), _find(parent, b)
        if ra == rb or (max_size is not None and size[ra] + size[rb] > max_size):
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
    members: dict[int, list[int]] = defaultdict(list)
    for x in parent:
        members[_find(parent, x)].append(x)
    label = {x: min(group) for group in members.values() for x in group}
    splits = [
        (a, b, p, WEAK if below is not None and p < below else SIZE)
        for a, b, p in ordered
        if label[a] != label[b]
    ]
    return label, splits


def split_clusters(
    con: duckdb.DuckDBPyConnection,
    pairs: str,
    components: str,
    splits: str,
    key: str,
    *,
    below: float | None,
    max_size: int | None,
) -> int:
    """Split the clusters of `components` (_rid, _cluster) that break a bound, in place.

    Writes `splits` (the cut links with their reason; empty when nothing was cut), removes
    those links from `pairs`, and returns how many clusters were split."""
    kl, kr = quote_ident(key + "_l"), quote_ident(key + "_r")
    con.execute(
        f"CREATE OR REPLACE TABLE {splits} AS SELECT _rid_l, _rid_r, {kl}, {kr}, "
        f"match_probability, rule, ''::VARCHAR AS reason FROM {pairs} WHERE false"
    ).fetchall()
    if below is None and max_size is None:
        return 0
    bounds = []  # numbers from the validated config, never text
    if below is not None:
        bounds.append(f"(s.n >= 3 AND min(l.match_probability) < {float(below)!r})")
    if max_size is not None:
        bounds.append(f"s.n > {int(max_size)}")
    rows = con.execute(
        f"""
        WITH size AS (SELECT _cluster, count(*) AS n FROM {components} GROUP BY _cluster),
        links AS (SELECT c._cluster, p._rid_l, p._rid_r, p.match_probability
                  FROM {pairs} p JOIN {components} c ON c._rid = p._rid_l),
        bad AS (SELECT l._cluster FROM links l JOIN size s USING (_cluster)
                GROUP BY l._cluster, s.n HAVING {" OR ".join(bounds)})
        SELECT _cluster, _rid_l, _rid_r, match_probability FROM links
        WHERE _cluster IN (SELECT _cluster FROM bad) ORDER BY _cluster
        """
    ).fetchall()
    by_cluster: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for cluster, a, b, p in rows:
        by_cluster[cluster].append((a, b, float(p)))
    relabel: dict[int, int] = {}
    cut: list[tuple[int, int, str]] = []
    split = 0
    for edges in by_cluster.values():
        label, cuts = split_cluster(edges, below, max_size)
        if cuts:
            split += 1
            relabel.update(label)
            cut += [(a, b, reason) for a, b, _, reason in cuts]
    if not split:
        return 0
    con.register(
        "_relabel",
        pa.table({"rid": list(relabel), "label": list(relabel.values())}),
    )
    con.register(
        "_cut",
        pa.table({"a": [c[0] for c in cut], "b": [c[1] for c in cut], "why": [c[2] for c in cut]}),
    )
    try:
        con.execute(
            f"UPDATE {components} SET _cluster = r.label FROM _relabel r WHERE _rid = r.rid"
        ).fetchall()
        con.execute(
            f"INSERT INTO {splits} SELECT p._rid_l, p._rid_r, p.{kl}, p.{kr}, "
            f"p.match_probability, p.rule, c.why FROM {pairs} p "
            "JOIN _cut c ON c.a = p._rid_l AND c.b = p._rid_r"
        ).fetchall()
        con.execute(
            f"DELETE FROM {pairs} USING _cut c WHERE c.a = _rid_l AND c.b = _rid_r"
        ).fetchall()
    finally:
        con.unregister("_relabel")
        con.unregister("_cut")
    return split
