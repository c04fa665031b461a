"""What a `masked` key sees: every email, phone and person name masked, in every endpoint.

Which values are PII is decided by the canonical model's roles (`crmpipe.model.Role`):
PERSON_NAME, EMAIL_LIST and PHONE columns, per table, extension columns included; a raw source
row's headers get the role of the canonical column they are mapped to, in the source's own
table or any table it feeds. The masks are the funnel
case's rules (`crmpipe.marts.pii`): the project's `marts.pii` mode (`initials`: "A*** G***",
"c***@example.org", phones keep their last two digits; `hash`: salted 16-hex digests); with
`marts.pii: none` the API still masks, with `initials`. On top of that, any other text that
holds an email address has it masked, and the search `document` (free text of a contact,
emails included) is null.

A masked key may not *query* PII either (`Masker.check_query`): a term on a field whose column
has one of those roles (`emails: x@y.org`, `last_name: smith`, `phone: 555`, aliases and
shorthands resolved) or a free-text term (it matches the document, which holds the emails) is
refused with a 403, since a match count would tell whether a value exists.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from crmpipe.config.schema import Config
from crmpipe.errors import CrmpipeError
from crmpipe.marts.pii import mask_email, mask_phone, mask_text
from crmpipe.model import Role
from crmpipe.search.ast import Compare, FieldMatch, FreeText, walk
from crmpipe.search.catalog import INPUT_TABLES
from crmpipe.search.facilities import FACILITY_SEARCH, facility_columns
from crmpipe.search.fields import Field, Kind
from crmpipe.search.parser import parse
from crmpipe.search.table import Scalar, SearchInputs, SearchTable, search_columns

#: Roles whose values identify a person.
MASKED_ROLES: frozenset[Role] = frozenset({Role.PERSON_NAME, Role.EMAIL_LIST, Role.PHONE})
#: Search columns of free text made from PII, answered as null.
NULLED = frozenset({"document", "_emails_joined", "_email_joined", "_contact_names_joined"})
_EMAIL = re.compile(r"[^\s@,;<>()\[\]\"']+@[^\s@,;<>()\[\]\"']+")

Roles = Mapping[str, Role]


class PiiQueryError(CrmpipeError):
    """A masked key's query tests a personal field or the free-text document (a 403)."""

    status = 403

    def __init__(self, term: str) -> None:
        super().__init__(f"masked keys can't search personal fields ({term}); ask for a full key")


class Masker:
    """Masks API answers by the roles of a project's tables (the model's, without a project)."""

    def __init__(self, cfg: Config | None) -> None:
        project = cfg if cfg is not None else Config()  # without a project: the model's tables
        tables = project.tables()
        self.mode = cfg.marts.pii if cfg is not None and cfg.marts.pii != "none" else "initials"
        self.salt = (cfg.marts.pii_salt if cfg is not None else None) or ""
        self.tables: dict[str, dict[str, Role]] = {
            name: {c.name: c.role for c in t.all_columns if c.role in MASKED_ROLES}
            for name, t in tables.items()
        }
        self.sources: dict[str, dict[str, Role]] = {}
        for source, spec in cfg.sources.items() if cfg is not None else ():
            # Every table the source's rows feed: a facility list's contact name is a
            # person's name in its raw rows too.
            headers: dict[str, Role] = {}
            for table, mapping in spec.mappings().items():
                roles = self.tables.get(table, {})
                headers |= {mapping.columns.get(col, col): role for col, role in roles.items()}
                for col, extra in mapping.extension_columns().items():
                    if col in roles:
                        headers[extra.column or col] = roles[col]
            self.sources[source] = headers
        #: The search table's PII columns, from its declaration (each column's source table
        #: and column; an entity column named like a contact one is `entity_<name>` there).
        self.search: dict[str, Role] = {
            c.name: self.tables[c.source.table][c.source.column]
            for c in search_columns(project, [])
            if isinstance(c.source, Scalar)
            and c.source.column in self.tables.get(c.source.table, {})
        }
        #: The same for facility_search (its contacts' names are people's names).
        every = SearchInputs(tables=frozenset(INPUT_TABLES))
        self.facility_search: dict[str, Role] = {
            c.name: self.tables[c.source.table][c.source.column]
            for c in facility_columns(project, every)
            if isinstance(c.source, Scalar)
            and c.source.column in self.tables.get(c.source.table, {})
        }
        self.facility_search["contact_names"] = Role.PERSON_NAME

    def for_table(self, spec: SearchTable) -> Masker:
        """This masker for search results of `spec` (contact_search's PII columns by default)."""
        if spec.name != FACILITY_SEARCH.name:
            return self
        other = copy.copy(self)
        other.search = self.facility_search
        return other

    def check_query(
        self, query: str, fields: Mapping[str, Field], shorthands: Mapping[str, str] | None
    ) -> None:
        """Raise PiiQueryError if `query` (parsed as search parses it) tests a PII column or
        the free-text document. An unparsable query or an unknown field is left to the search
        itself to refuse (a 400 naming the problem)."""
        if not query.strip():
            return
        pii = {c.lower() for c in self.search} | NULLED
        for node in walk(parse(query, shorthands=shorthands)):
            if isinstance(node, FreeText):
                shown = f'"{node.text}"' if node.phrase else node.text
                raise PiiQueryError(
                    f"free text {shown} at column {node.pos + 1} searches the document, which "
                    "holds emails; name a field instead, e.g. title: " + node.text
                )
            if isinstance(node, FieldMatch | Compare):
                f = fields.get(node.field.lower())
                if f is not None and (f.kind is Kind.DOCUMENT or f.column.lower() in pii):
                    raise PiiQueryError(f"{node.field}: at column {node.pos + 1}")

    def value(self, value: Any, role: Role) -> Any:
        """One value of a PII column, masked (lists element by element)."""
        if isinstance(value, list):
            return [self.value(v, role) for v in value]
        if not isinstance(value, str):
            return value if value is None else self.value(str(value), role)
        if role is Role.EMAIL_LIST:
            return ";".join(mask_email(v, self.mode, self.salt) for v in value.split(";"))
        if role is Role.PHONE:
            return mask_phone(value, self.mode, self.salt)
        return mask_text(value, self.mode, self.salt)

    def scrub(self, value: Any) -> Any:
        """Any JSON value with the email addresses in its text masked."""
        if isinstance(value, str):
            if "@" not in value:
                return value
            return _EMAIL.sub(lambda m: mask_email(m.group(0), self.mode, self.salt), value)
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value

    def row(self, row: Mapping[str, Any] | None, roles: Roles) -> dict[str, Any] | None:
        """A record (column → value) with its PII columns masked and any email scrubbed."""
        if row is None:
            return None
        return {
            k: None if k in NULLED else (self.value(v, roles[k]) if k in roles else self.scrub(v))
            for k, v in row.items()
        }

    def rows(self, rows: list[dict[str, Any]], table: str) -> list[dict[str, Any]]:
        roles = self.tables.get(table, {})
        return [self.row(r, roles) or {} for r in rows]

    def search_rows(self, columns: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Search result rows (tuples in `columns` order), masked."""
        out = []
        for r in rows:
            masked = self.row(dict(zip(columns, r, strict=True)), self.search) or {}
            out.append(tuple(masked[c] for c in columns))
        return out

    def facet_counts(
        self, counts: Mapping[str, list[dict[str, Any]]], columns: Mapping[str, str]
    ) -> dict[str, list[dict[str, Any]]]:
        """Facet counts (field → [{value, count}]) with PII values masked; values that mask
        alike are counted together. `columns`: each field's search column."""
        out: dict[str, list[dict[str, Any]]] = {}
        for name, entries in counts.items():
            column = columns.get(name, name)
            if column in NULLED:
                out[name] = []
                continue
            role = self.search.get(column)
            merged: dict[Any, int] = {}
            for e in entries:
                v = self.value(e["value"], role) if role else self.scrub(e["value"])
                key = tuple(v) if isinstance(v, list) else v
                merged[key] = merged.get(key, 0) + int(e["count"])
            out[name] = [
                {"value": list(k) if isinstance(k, tuple) else k, "count": n}
                for k, n in sorted(merged.items(), key=lambda kv: (-kv[1], str(kv[0])))
            ]
        return out

    def contact(self, detail: dict[str, Any]) -> dict[str, Any]:
        """`records.contact_detail`'s answer, masked (source rows by their source's headers)."""
        out = dict(detail)
        out["contact"] = self.row(detail.get("contact"), self.tables.get("contacts", {}))
        return self._common(out)

    def entity(self, detail: dict[str, Any]) -> dict[str, Any]:
        """`records.entity_detail`'s answer, masked."""
        out = dict(detail)
        out["contacts"] = self.rows(detail.get("contacts") or [], "contacts")
        for table in ("licenses", "addresses", "schedules"):
            if out.get(table) is not None:
                out[table] = self.rows(out[table], table)
        if out.get("provenance") is not None:
            # Source values of any column (names, phones, emails): not for a masked key.
            out["provenance"] = None
            out["provenance_note"] = "lists source values (names, phones, emails): full keys only"
        return self._common(out)

    def customer(self, detail: dict[str, Any]) -> dict[str, Any]:
        """`records.customer_detail`'s answer, masked (source rows by their source's headers)."""
        out = dict(detail)
        out["customer"] = self.row(detail.get("customer"), self.tables.get("customers", {}))
        out["jobs"] = self.rows(detail.get("jobs") or [], "jobs")
        out["sources"] = self._sources(detail.get("sources"))
        return self.scrub(out)

    def _sources(self, sources: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        """Lineage rows, their raw values masked by the source's headers."""
        if not sources:
            return sources
        return [
            {
                **self.scrub({k: v for k, v in s.items() if k != "values"}),
                "values": self.row(s.get("values"), self.sources.get(str(s.get("source")), {})),
            }
            for s in sources
        ]

    def _common(self, out: dict[str, Any]) -> dict[str, Any]:
        out["entity"] = self.row(out.get("entity"), self.tables.get("entities", {}))
        out["techstack"] = self.rows(out.get("techstack") or [], "techstacks")
        out["crm_ids"] = self.rows(out.get("crm_ids") or [], "external_ids")
        out["sources"] = self._sources(out.get("sources"))
        return self.scrub(out)

    def report(self, content: dict[str, Any]) -> dict[str, Any]:
        """A run's report content, masked: rejected lines lose their parser message (it may
        quote the line), emails elsewhere are scrubbed."""
        out = dict(content)
        if out.get("rejected_lines"):
            out["rejected_lines"] = [{**r, "message": None} for r in out["rejected_lines"]]
        return self.scrub(out)
