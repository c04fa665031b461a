"""What an incremental run wrote to core, as its writers report it, for the index step.

The index step updates a search table in place from the rows whose hash changed
(search.refresh); hashing every golden row and every entity to find them took 1.5–2.5 s of a
50k drop's run at 4.5M contacts. Most of a drop's writers know what they changed:

- an incremental resolution rewrites the golden rows of the golden ids it lists (`_touched`,
  resolution/touched.py), and nothing else of core.<table>;
- a table merged with no new rows, nothing back from quarantine and nothing quarantined by
  its checks is unchanged.

`Written` collects those reports during `pipeline._rebuild` and hands them to the index step
as a `search.refresh.Hint`. A writer that does not report forgets what was known: gender
inference rewrites a table's rows, a reference remapped rewrites any table, and PII masking
(after the index step, in the marts step) leaves core unlike the hashes the index step records,
so a masked table is always hashed whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from crmpipe.build.core import CoreResult
from crmpipe.search.refresh import Hint
from crmpipe.sqltext import quote_ident


@dataclass
class Written:
    """The core tables an incremental run left unchanged, and per resolved table the temp
    relation (`_key`, over a temp table) of the keys whose golden rows it rewrote."""

    unchanged: set[str] = field(default_factory=set)
    keys: dict[str, str] = field(default_factory=dict)
    made: list[str] = field(default_factory=list)  # every such temp table, to drop

    def built(self, con: duckdb.DuckDBPyConnection, result: CoreResult, moved: int) -> None:
        """A table merged by an incremental build (`result`), `moved` rows quarantined by its
        checks: unchanged when the merge took no row out and put none in."""
        if result.delta is None or moved:
            return
        ((n,),) = con.execute(
            f"SELECT (SELECT count(*) FROM {result.delta.left}) "
            f"+ (SELECT count(*) FROM {result.delta.came})"
        ).fetchall()
        if n == 0:
            self.unchanged.add(result.table)

    def resolved(
        self, con: duckdb.DuckDBPyConnection, table: str, touched_keys: str | None
    ) -> None:
        """`table`'s golden rows rewritten by its resolution: only those of the golden ids in
        `touched_keys` when it lists them (a temp table of `golden_id`, renamed here and
        dropped by `drop`; None: any of them)."""
        self.unchanged.discard(table)
        self.keys.pop(table, None)
        if touched_keys:
            mine = quote_ident(f"_crm_touched_{table}")
            con.execute(f"DROP TABLE IF EXISTS {mine}")
            con.execute(f"ALTER TABLE {touched_keys} RENAME TO {mine}")
            self.keys[table] = f"(SELECT golden_id AS _key FROM {mine})"
            self.made.append(mine)

    def rewritten(self, table: str | None = None) -> None:
        """Rows of `table` (None: of any table) rewritten by a step that does not say which."""
        if table is None:
            self.unchanged.clear()
            self.keys.clear()
        else:
            self.unchanged.discard(table)
            self.keys.pop(table, None)

    def hint(self) -> Hint:
        """What the index step may take as said (search.refresh.Hint)."""
        return Hint(dict(self.keys), frozenset(self.unchanged))

    def drop(self, con: duckdb.DuckDBPyConnection) -> None:
        """Drop the temp tables of rewritten keys (after the index step)."""
        for table in self.made:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        self.keys.clear()
        self.made.clear()
