"""Publish in place: send PostgreSQL only the rows that changed since the version serving was
published, into the serving schema itself, in one transaction (docs/postgres.md).

A daily drop changes a few percent of the rows, yet a versioned rebuild copies and indexes
every row again (minutes at 4.5M contacts). When the record of what was published
(crmpipe.publish.snapshot) matches the version serving, and at most `publish.incremental_share`
of the rows changed, a publish instead:

1. finds in DuckDB the rows whose hash is new (to insert or update) and the keys whose rows
   are gone (`diff`);
2. in one PostgreSQL transaction: COPYs those rows into temporary tables, upserts them
   (referenced tables first), deletes the gone keys (referencing tables first), updates
   contact_search for the changed contacts and entities and `search_values` for the changed
   vocabularies, refreshes facility_search, checks every changed table's count against the
   warehouse, brings the audit trail in line for the changed keys only, takes the serving lock
   (requests of `crmpipe serve` in flight finish first) and registers the new version;
3. once committed, records the new state.

Readers see the old rows or the new ones, never a mix: the transaction commits at once. A
failure, a kill or a check that doesn't hold rolls it back and the version serving stays as it
was; `InPlaceDeclined` (a foreign key that would break, a count that differs) makes the caller
publish a full version instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb
import psycopg

from crmpipe.publish import search_ddl
from crmpipe.publish.copy import BATCH_ROWS, payload
from crmpipe.publish.ddl import PgColumn, copy_query, qualified
from crmpipe.publish.inplace_tokens import IN, OUT, Postings
from crmpipe.publish.snapshot import (
    Relation,
    entity_hashes_table,
    snapshot_table,
)
from crmpipe.search import pgtokens
from crmpipe.search.refresh import hash_tables
from crmpipe.search.table import CONTACT_SEARCH, SEARCH_TABLE
from crmpipe.sqltext import quote_ident

if TYPE_CHECKING:
    from crmpipe.publish.plan import PublishPlan

#: The serving schema (crmpipe.publish.versions.SERVING_SCHEMA; not imported: versions imports
#: the audit module, which this one's callers pass in).
SERVING = "crmpipe"
#: How long the in-place transaction waits for a lock on a published table.
LOCK_TIMEOUT = "10s"


class InPlaceDeclined(Exception):
    """The change can't be applied in place (the message says why): publish a full version."""


@dataclass
class Change:
    """What changed in one published table: rows to upsert and keys to delete (DuckDB temp
    tables `up`, `gone`), or, for a table compared whole, all its rows."""

    rel: Relation
    upserts: int = 0
    deletes: int = 0
    existing: int = 0  # of the upserts, rows whose key was published before (updates)
    whole: bool = False
    up: str = ""
    gone: str = ""
    gone_hashes: str = ""  # the recorded (key, hash) rows whose hash is gone

    @property
    def new(self) -> int:
        """Of the upserts, rows whose key was not published before (inserts)."""
        return self.upserts - self.existing


@dataclass
class Delta:
    """Every change an in-place publish sends, found in DuckDB by `diff`."""

    changes: list[Change]
    search_up: int = 0  # contact_search rows to upsert (contacts changed or of changed entities)
    values_new: int = 0  # search_values rows new
    values_gone: int = 0  # search_values rows gone
    values_rows: int = 0  # search_values rows in all
    total: int = 0  # rows published in all
    search: bool = False  # contact_search compared (`_pub_search_up`, `_pub_entities`)
    values: bool = False  # search_values compared (`_pub_values`, its new and gone rows)

    @property
    def changed(self) -> int:
        rows = sum(c.upserts + c.deletes for c in self.changes)
        return rows + self.search_up + self.values_new + self.values_gone

    def of(self, name: str) -> Change | None:
        return next((c for c in self.changes if c.rel.name == name), None)


def _count(dc: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(dc.execute(sql).fetchall()[0][0])


def diff(
    dc: duckdb.DuckDBPyConnection,
    target: str,
    rels: list[Relation],
    view: search_ddl.SearchView | None,
) -> Delta:
    """Compare the warehouse's rows with the record of what `target` serves (temp tables of
    cursor `dc`, which the apply and the record update read afterwards)."""
    changes = []
    for i, rel in enumerate(rels):
        snap = snapshot_table(target, rel.name)
        if not rel.key:
            n, s = dc.execute(
                f"SELECT count(*), sum({rel.row_hash})::HUGEINT FROM {rel.source}"
            ).fetchall()[0]
            old_n, old_s = dc.execute(f"SELECT n, s FROM {snap}").fetchall()[0]
            if (n, s) != (old_n, old_s):
                changes.append(Change(rel, upserts=n, deletes=old_n, whole=True))
            continue
        now, new, gone = f"_pub_now_{i}", f"_pub_new_{i}", f"_pub_gone_{i}"
        up, dead = f"_pub_up_{i}", f"_pub_del_{i}"
        keys = ", ".join(quote_ident(k) for k in rel.key)
        dc.execute(
            f"CREATE OR REPLACE TEMP TABLE {now} AS SELECT rowid AS _rid, {rel.row_hash} AS _hash "
            f"FROM {rel.source}"
        )
        dc.execute(
            f"CREATE OR REPLACE TEMP TABLE {new} AS SELECT n._rid, n._hash FROM {now} n "
            f"ANTI JOIN {snap} s USING (_hash)"
        )
        dc.execute(
            f"CREATE OR REPLACE TEMP TABLE {gone} AS SELECT s.* FROM {snap} s "
            f"ANTI JOIN {now} n USING (_hash)"
        )
        dc.execute(f"DROP TABLE {now}")
        dc.execute(
            f"CREATE OR REPLACE TEMP TABLE {up} AS SELECT t.rowid AS _rid, "
            + ", ".join(f"t.{quote_ident(k)}" for k in rel.key)
            + f", n._hash FROM {rel.source} t JOIN {new} n ON t.rowid = n._rid"
        )
        dc.execute(
            f"CREATE OR REPLACE TEMP TABLE {dead} AS SELECT {keys} FROM {gone} "
            f"ANTI JOIN {up} USING ({keys})"
        )
        ups, dels = (
            _count(dc, f"SELECT count(*) FROM {up}"),
            _count(dc, f"SELECT count(*) FROM {dead}"),
        )
        if ups or dels:
            existing = _count(dc, f"SELECT count(*) FROM {up} SEMI JOIN {gone} USING ({keys})")
            changes.append(Change(rel, ups, dels, existing, up=up, gone=dead, gone_hashes=gone))
    delta = Delta(changes, total=sum(r.rows for r in rels))
    if view is not None:
        # contact_search has a row per contact
        delta.total += next((r.rows for r in rels if r.name == "contacts"), 0)
        _search_diff(dc, target, delta, view)
    return delta


def _search_diff(
    dc: duckdb.DuckDBPyConnection, target: str, delta: Delta, view: search_ddl.SearchView
) -> None:
    """contact_search's rows to upsert (`_pub_search_up`): the contacts upserted, and every
    contact of an entity whose search part changed (its hash, as the search build recorded it,
    is new or gone); its gone rows are the contacts'. search_values: new and gone rows."""
    _, entities = hash_tables(CONTACT_SEARCH)
    snap = entity_hashes_table(target)
    dc.execute(
        "CREATE OR REPLACE TEMP TABLE _pub_entities AS "
        f"SELECT _key FROM {entities} ANTI JOIN {snap} USING (_hash) "
        f"UNION SELECT _key FROM {snap} ANTI JOIN {entities} USING (_hash)"
    )
    contacts = delta.of("contacts")
    parts = [
        "SELECT contact_id FROM core.contacts WHERE entity_id IN (SELECT _key FROM _pub_entities)"
    ]
    if contacts is not None:
        parts.append(f"SELECT contact_id FROM {contacts.up}")
    dc.execute(f"CREATE OR REPLACE TEMP TABLE _pub_search_up AS {' UNION '.join(parts)}")
    delta.search_up = _count(dc, "SELECT count(*) FROM _pub_search_up")
    delta.search = True
    if view.values:
        delta.values = True
        values = snapshot_table(target, "search_values")
        dc.execute(
            "CREATE OR REPLACE TEMP TABLE _pub_values AS "
            f"SELECT * FROM ({search_ddl.values_rows_query(view)})"
        )
        dc.execute(
            "CREATE OR REPLACE TEMP TABLE _pub_values_new AS "
            f"SELECT * FROM _pub_values EXCEPT SELECT * FROM {values}"
        )
        dc.execute(
            "CREATE OR REPLACE TEMP TABLE _pub_values_gone AS "
            f"SELECT * FROM {values} EXCEPT SELECT * FROM _pub_values"
        )
        delta.values_new = _count(dc, "SELECT count(*) FROM _pub_values_new")
        delta.values_gone = _count(dc, "SELECT count(*) FROM _pub_values_gone")
        delta.values_rows = _count(dc, "SELECT count(*) FROM _pub_values")
        delta.total += delta.values_rows


def _stream(
    dc: duckdb.DuckDBPyConnection, conn: psycopg.Connection, table: str, cols: list[str], query: str
) -> int:
    """COPY DuckDB `query`'s lines (COPY text format) into PostgreSQL `table`; rows copied."""
    names = ", ".join(quote_ident(c) for c in cols)
    cur = conn.cursor()
    with cur.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT text)") as copy:
        for batch in dc.sql(query).to_arrow_reader(BATCH_ROWS):
            data = payload(batch.column(0))
            if len(data):
                copy.write(data)
    return cur.rowcount


def _match(
    key: tuple[str, ...], left: str, right: str, collate: bool = False, nullable: str = ""
) -> str:
    """The join condition of two relations on `key` (in the "C" collation: contact_search's key
    index is; `nullable`: a key column that may be NULL, matched NULL to NULL)."""
    c = ' COLLATE "C"' if collate else ""
    return " AND ".join(
        f"{left}.{quote_ident(k)} IS NOT DISTINCT FROM {right}.{quote_ident(k)}"
        if k == nullable
        else f"{left}.{quote_ident(k)}{c} = {right}.{quote_ident(k)}{c}"
        for k in key
    )


class Apply:
    """The PostgreSQL side of an in-place publish, on connection `conn` inside its transaction:
    each method sends one kind of change. `keys` collects, per table, a SELECT of the keys it
    changed (for the audit trail)."""

    def __init__(
        self, dc: duckdb.DuckDBPyConnection, conn: psycopg.Connection, pub: PublishPlan
    ) -> None:
        self.dc, self.conn, self.pub = dc, conn, pub
        self.keys: dict[str, str] = {}
        self.n = 0

    def _temp(self, like: str, cols: list[str] | None = None) -> str:
        self.n += 1
        name = f"_pub_{self.n}"
        what = ", ".join(quote_ident(c) for c in cols) if cols else "*"
        self.conn.execute(
            f"CREATE TEMP TABLE {name} ON COMMIT DROP AS SELECT {what} FROM {like} WITH NO DATA"
        )
        return name

    def upsert(self, change: Change) -> None:
        """Insert the changed and new rows of a keyed table, or replace a whole one."""
        rel, plan = change.rel, self.pub.plans[change.rel.name]
        table = qualified(SERVING, rel.name)
        cols = [c.name for c in plan.columns]
        if change.whole:
            self.conn.execute(f"DELETE FROM {table}")
            query = copy_query(plan.source, plan.columns, plan.duck_types)
            _stream(self.dc, self.conn, table, cols, query)
            return
        rows = self._temp(table)
        source = f"(SELECT * FROM {plan.source} WHERE rowid IN (SELECT _rid FROM {change.up})) s"
        _stream(self.dc, self.conn, rows, cols, copy_query(source, plan.columns, plan.duck_types))
        fresh = self._merge(table, rows, cols, rel.key)
        self.expect(rel.name, "inserted", fresh, change.new)
        self.keys[rel.name] = f"SELECT {quote_ident(rel.key[0])} FROM {rows}"

    def _merge(self, table: str, rows: str, cols: list[str], key: tuple[str, ...]) -> int:
        """Upsert temp table `rows` into `table`; the rows inserted (not updated)."""
        names = ", ".join(quote_ident(c) for c in cols)
        others = [c for c in cols if c not in key]
        action = (
            "DO UPDATE SET "
            + ", ".join(f"{quote_ident(c)} = EXCLUDED.{quote_ident(c)}" for c in others)
            if others
            else "DO NOTHING"
        )
        # A row an upsert inserted has no xmax yet; one it updated carries the updating
        # transaction's (the usual way to tell them apart in RETURNING).
        (inserted,) = self.conn.execute(
            f"WITH m AS (INSERT INTO {table} ({names}) SELECT {names} FROM {rows} "
            f"ON CONFLICT ({', '.join(quote_ident(k) for k in key)}) {action} "
            "RETURNING xmax = 0 AS fresh) SELECT count(*) FILTER (WHERE fresh) FROM m"
        ).fetchone()
        return int(inserted)

    def expect(self, table: str, what: str, got: int, want: int) -> None:
        """The check that replaces a count(*) of a table of millions: each statement changed
        exactly the rows the record of what was published says it would. Rows the serving
        schema holds but the record doesn't (or the reverse) make the publish a full one."""
        if got != want:
            raise InPlaceDeclined(
                f"{table}: {got:,} rows {what} where the record of what was published "
                f"expects {want:,}"
            )

    def delete(self, change: Change) -> None:
        """Delete the gone keys of a keyed table."""
        if change.whole or not change.deletes:
            return
        rel, plan = change.rel, self.pub.plans[change.rel.name]
        table = qualified(SERVING, rel.name)
        keys = self._temp(table, list(rel.key))
        cols = [PgColumn(k, plan.duck_types[k], "") for k in rel.key]
        query = copy_query(f"{change.gone} s", cols, {k: plan.duck_types[k] for k in rel.key})
        _stream(self.dc, self.conn, keys, list(rel.key), query)
        gone = self.conn.execute(
            f"DELETE FROM {table} t USING {keys} g WHERE {_match(rel.key, 't', 'g')}"
        ).rowcount
        self.expect(rel.name, "deleted", gone, change.deletes)
        k = quote_ident(rel.key[0])
        upserted = self.keys.get(rel.name)
        self.keys[rel.name] = f"SELECT {k} FROM {keys}" + (
            f" UNION ALL {upserted}" if upserted else ""
        )

    def search(self, view: search_ddl.SearchView, delta: Delta) -> None:
        """contact_search: the rows of changed contacts again, gone contacts' rows deleted."""
        table = qualified(SERVING, SEARCH_TABLE)
        contacts = delta.of("contacts")
        # the e-mails' token postings (search.pgtokens): what changes read before it does
        tokens = Postings(self.conn, quote_ident(SERVING), table) if view.postings else None
        if delta.search_up:
            rows = self._temp(table)
            types = {**self.pub.search_types, "document": "VARCHAR"}
            query = search_ddl.search_copy_query(view, types, keys="_pub_search_up")
            _stream(self.dc, self.conn, rows, view.columns, query)
            if tokens is not None:
                tokens.changed(rows)
            fresh = self._merge(table, rows, view.columns, ("contact_id",))
            self.expect(SEARCH_TABLE, "inserted", fresh, contacts.new if contacts else 0)
        if contacts is not None and contacts.deletes:
            keys = self._temp(table, ["contact_id"])
            cols = [PgColumn("contact_id", "VARCHAR", "")]
            query = copy_query(f"{contacts.gone} s", cols, {"contact_id": "VARCHAR"})
            _stream(self.dc, self.conn, keys, ["contact_id"], query)
            if tokens is not None:
                tokens.gone(keys)
            gone = self.conn.execute(
                f"DELETE FROM {table} t USING {keys} g WHERE "
                f"{_match(('contact_id',), 't', 'g', collate=True)}"
            ).rowcount
            self.expect(SEARCH_TABLE, "deleted", gone, contacts.deletes)
        if tokens is not None:
            going, coming = tokens.apply()
            self.expect(pgtokens.POSTINGS, "taken out", going, tokens.count(OUT))
            self.expect(pgtokens.POSTINGS, "put in", coming, tokens.count(IN))
        if view.values and (delta.values_new or delta.values_gone):
            values = qualified(SERVING, search_ddl.SEARCH_VALUES)
            cols = [c.name for c in search_ddl.VALUES_COLUMNS]
            key = ("field", "value", "entity_id")
            if delta.values_gone:
                gone = self._temp(values)
                query = search_ddl.values_copy_query(view, "_pub_values_gone")
                _stream(self.dc, self.conn, gone, cols, query)
                self.conn.execute(
                    f"DELETE FROM {values} t USING {gone} g WHERE "
                    + _match(key, "t", "g", nullable="entity_id")
                )
            if delta.values_new:
                new = self._temp(values)
                _stream(
                    self.dc,
                    self.conn,
                    new,
                    cols,
                    search_ddl.values_copy_query(view, "_pub_values_new"),
                )
                self._merge(values, new, cols, key)

    def count(self, name: str) -> int:
        (n,) = self.conn.execute(f"SELECT count(*) FROM {qualified(SERVING, name)}").fetchone()
        return int(n)


def apply(
    dc: duckdb.DuckDBPyConnection,
    conn: psycopg.Connection,
    pub: PublishPlan,
    delta: Delta,
    view: search_ddl.SearchView | None,
    timings: list[tuple[str, float]],
) -> dict[str, str]:
    """Send `delta` into the serving schema, inside the caller's transaction on `conn`, and
    check the counts; return the changed keys per table (for the audit trail), and append each
    part's seconds to `timings`. Raises InPlaceDeclined when a foreign key or a count doesn't
    hold (the caller rolls back)."""
    conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    # Every statement of the transaction joins a few changed keys with a table of millions of
    # rows. With PostgreSQL's default random_page_cost (4, priced for spinning disks) the
    # planner scans the whole table rather than probe its key index 50k times (a publish of
    # 50k rows into 4.5M: three audit statements 1.0-2.4 s each as scans, 0.1-0.5 s as probes);
    # and compiling the statements (JIT) costs more than it saves on so few rows.
    conn.execute("SET LOCAL random_page_cost = 1.1")
    conn.execute("SET LOCAL jit = off")
    work = Apply(dc, conn, pub)

    def timed(what: str, fn: Any, *args: Any) -> None:
        t0 = time.perf_counter()
        fn(*args)
        timings.append((f"in place {what}", time.perf_counter() - t0))

    try:
        for change in delta.changes:  # referenced tables first
            timed(f"upsert {change.rel.name}", work.upsert, change)
        if view is not None:
            timed("search tables", work.search, view, delta)
        for change in reversed(delta.changes):  # referencing tables first
            if change.deletes and not change.whole:
                timed(f"delete {change.rel.name}", work.delete, change)
    except psycopg.errors.ForeignKeyViolation as exc:
        raise InPlaceDeclined(f"a foreign key would break ({str(exc).splitlines()[0]})") from None
    except psycopg.errors.UniqueViolation as exc:
        raise InPlaceDeclined(f"a key would repeat ({str(exc).splitlines()[0]})") from None
    changed = {c.rel.name for c in delta.changes}
    if pub.facility is not None and changed & set(pub.facility.tables):
        timed(
            "refresh facility_search",
            conn.execute,
            f"REFRESH MATERIALIZED VIEW CONCURRENTLY {qualified(SERVING, 'facility_search')}",
        )
    # Keyed tables and contact_search were checked statement by statement (Apply.expect);
    # a table replaced whole and search_values (small) are counted.
    expected: dict[str, int] = {c.rel.name: c.rel.rows for c in delta.changes if c.whole}
    if view is not None and view.values and (delta.values_new or delta.values_gone):
        expected[search_ddl.SEARCH_VALUES] = delta.values_rows
    t0 = time.perf_counter()
    for name, rows in expected.items():
        got = work.count(name)
        if got != rows:
            raise InPlaceDeclined(
                f"{name} would have {got:,} rows where the warehouse has {rows:,}"
            )
    timings.append(("in place counts checked", time.perf_counter() - t0))
    return work.keys


def summary(delta: Delta) -> dict[str, dict[str, Any]]:
    """Per table changed: rows upserted and deleted (a whole table: its rows replaced)."""
    out: dict[str, dict[str, Any]] = {
        c.rel.name: {"upserted": c.upserts, "deleted": c.deletes} for c in delta.changes
    }
    if delta.search_up or delta.of("contacts") is not None:
        c = delta.of("contacts")
        out[SEARCH_TABLE] = {"upserted": delta.search_up, "deleted": c.deletes if c else 0}
    if delta.values_new or delta.values_gone:
        out[search_ddl.SEARCH_VALUES] = {"upserted": delta.values_new, "deleted": delta.values_gone}
    return out


def record(dc: duckdb.DuckDBPyConnection, target: str, delta: Delta) -> None:
    """Bring the record of what `target` serves up to date with `delta` (inside the caller's
    DuckDB transaction): gone hashes out, new ones in; the entity hashes and vocabularies
    replaced."""
    for change in delta.changes:
        rel = change.rel
        snap = snapshot_table(target, rel.name)
        if change.whole:
            dc.execute(
                f"CREATE OR REPLACE TABLE {snap} AS SELECT count(*) AS n, "
                f"sum({rel.row_hash})::HUGEINT AS s FROM {rel.source}"
            )
            continue
        keys = ", ".join(quote_ident(k) for k in rel.key)
        dc.execute(f"DELETE FROM {snap} WHERE _hash IN (SELECT _hash FROM {change.gone_hashes})")
        dc.execute(f"INSERT INTO {snap} SELECT {keys}, _hash FROM {change.up}")
    if delta.search:
        _, entities = hash_tables(CONTACT_SEARCH)
        dc.execute(
            f"CREATE OR REPLACE TABLE {entity_hashes_table(target)} AS "
            f"SELECT _key, _hash FROM {entities}"
        )
    if delta.values:
        dc.execute(
            f"CREATE OR REPLACE TABLE {snapshot_table(target, 'search_values')} AS "
            "SELECT * FROM _pub_values"
        )
