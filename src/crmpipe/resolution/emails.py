"""Email habits as SQL: personal mailboxes, shared role inboxes, and addresses that fit a name.

Real CRMs hold several addresses for one person: an alias of another convention at the same
workplace (`awright@` for `angela.wright@`), a personal mailbox (`@gmail.com`), or the
office's shared inbox (`info@`). The lists here are the one place these are declared:

- PERSONAL_DOMAINS: mailbox providers. A personal address says nothing about the workplace, so
  a work address against a personal one is missing evidence, not a mismatch.
- ROLE_INBOXES: local parts of shared inboxes. They never link two people by themselves (the
  pre-pass and the email blocking key skip them) and compare as missing evidence.
- NAME_PATTERNS: how a mail system makes a local part of a first and last name (first.last,
  flast, firstl, first, first_last, firstlast, last.first, …), digits aside. Two different
  addresses at one domain whose local parts both fit one of the two records' names are aliases.

Everything is an SQL expression over the records (vectorized, no per-row Python).
"""

from __future__ import annotations

from crmpipe.sqltext import sql_str

#: Personal mailbox providers (exact domains).
PERSONAL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "outlook.com",
    "hotmail.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com",
    "proton.me", "protonmail.com", "pm.me", "comcast.net", "verizon.net", "att.net",
    "sbcglobal.net", "bellsouth.net", "charter.net", "cox.net", "earthlink.net", "optonline.net",
    "frontier.com", "windstream.net", "centurylink.net", "roadrunner.com", "gmx.com", "gmx.net",
    "mail.com", "zoho.com", "yandex.com", "fastmail.com", "hey.com", "juno.com", "netzero.net",
)  # fmt: skip
#: Providers recognised by their first label in any country (`yahoo.co.uk`, `hotmail.fr`).
PERSONAL_PROVIDERS: tuple[str, ...] = (
    "gmail", "googlemail", "yahoo", "ymail", "hotmail", "outlook", "live", "msn", "aol",
    "icloud", "protonmail", "gmx",
)  # fmt: skip
#: Local parts of shared inboxes, compared with dots, dashes, underscores and digits removed
#: (`front.desk2@` is `frontdesk`).
ROLE_INBOXES: tuple[str, ...] = (
    "info", "information", "office", "admin", "administrator", "administration", "frontdesk",
    "frontoffice", "reception", "contact", "contactus", "hello", "hi", "sales", "support",
    "help", "helpdesk", "service", "services", "customerservice", "hr", "humanresources",
    "jobs", "careers", "billing", "accounts", "accounting", "accountspayable", "finance",
    "payroll", "purchasing", "procurement", "marketing", "media", "press", "news", "events",
    "team", "staff", "general", "enquiries", "inquiries", "feedback", "webmaster",
    "postmaster", "noreply", "donotreply", "mail", "email", "clerk", "mayor", "council",
    "permits", "records", "library", "police", "fire", "parks", "it", "tech",
)  # fmt: skip
#: Local parts made of a first name f and a last name l (and the same with the two swapped, for
#: a record entered last name first); `{fi}`/`{li}` are initials.
NAME_PATTERNS: tuple[str, ...] = (
    "{f}.{l}", "{f}_{l}", "{f}-{l}", "{f}{l}", "{fi}{l}", "{fi}.{l}", "{fi}_{l}", "{f}{li}",
    "{f}.{li}", "{f}", "{l}.{f}", "{l}_{f}", "{l}{f}", "{l}{fi}", "{li}{f}", "{l}",
)  # fmt: skip


#: Characters dropped from a local part before it is looked up in ROLE_INBOXES, and from a name
#: before NAME_PATTERNS are made of it (`_drop`).
_SEPARATORS = ".-_0123456789"
_NAME_PUNCTUATION = " .'-"
_DIGITS = "0123456789"


def _in(expr: str, values: tuple[str, ...]) -> str:
    return f"{expr} IN ({', '.join(repr(v) for v in values)})"


def _drop(expr: str, chars: str) -> str:
    """SQL: `expr` without any of the characters `chars` — what `translate(expr, chars, '')`
    gives, as a regular expression's replacement: DuckDB's `translate` took 0.43 s per million
    short values here against 0.15 s for `regexp_replace`, and the features of a record ran it
    six times (docs/benchmarks.md, branch `fullres`)."""
    # '-' first in the class (a literal there), the class's other special characters escaped
    ordered = ("-" if "-" in chars else "") + "".join(c for c in chars if c != "-")
    escaped = "".join("\\" + c if c in "]\\^[" else c for c in ordered)
    return f"regexp_replace({expr}, {sql_str('[' + escaped + ']')}, '', 'g')"


def is_role_sql(address: str) -> str:
    """True when `address` (lower case) is a shared role inbox."""
    local = _drop(f"split_part({address}, '@', 1)", _SEPARATORS)
    return _in(local, ROLE_INBOXES)


def is_personal_sql(address: str) -> str:
    """True when `address` (lower case) is at a personal mailbox provider."""
    domain = f"split_part({address}, '@', 2)"
    return (
        f"({_in(domain, PERSONAL_DOMAINS)} OR "
        f"{_in(f'split_part({domain}, {chr(39)}.{chr(39)}, 1)', PERSONAL_PROVIDERS)})"
    )


def own_sql(addresses: str, *, first: bool = False) -> str:
    """The list `addresses` without role inboxes (NULL when none is left); with `first`, the
    first of them."""
    own = f"list_filter({addresses}, lambda e: e IS NOT NULL AND NOT {is_role_sql('e')})"
    return f"{own}[1]" if first else f"nullif({own}, []::VARCHAR[])"


def work_sql(addresses: str, *, own: bool = False) -> str:
    """The first address of `addresses` that is neither a role inbox nor personal. With `own`,
    `addresses` is an `own_sql` list already (no role inbox left to test for)."""
    role = "" if own else f" AND NOT {is_role_sql('e')}"
    return (
        f"list_filter({addresses}, lambda e: e IS NOT NULL{role} AND NOT {is_personal_sql('e')})[1]"
    )


def letters_sql(address: str) -> str:
    """The local part of `address` without a `+tag` and without digits: `angela.wright84+x` →
    `angela.wright`, for comparison with NAME_PATTERNS."""
    local = f"split_part(split_part({address}, '@', 1), '+', 1)"
    return f"nullif({_drop(local, _DIGITS)}, '')"


def name_part_sql(name: str) -> str:
    """SQL: the name `name` (lower case) as NAME_PATTERNS use it: accents and punctuation
    dropped (`o'brien` → `obrien`)."""
    return _drop(f"strip_accents({name})", _NAME_PUNCTUATION)


def _patterns(f: str, l: str) -> list[str]:  # noqa: E741
    """NAME_PATTERNS as SQL string expressions over the name parts `f` and `l`."""
    parts = {"f": f, "l": l, "fi": f"left({f}, 1)", "li": f"left({l}, 1)"}
    items = []
    for pattern in NAME_PATTERNS:
        pieces = []
        rest = pattern
        while rest:
            if rest.startswith("{"):
                end = rest.index("}")
                pieces.append(parts[rest[1:end]])
                rest = rest[end + 1 :]
            else:
                pieces.append(repr(rest[0]))
                rest = rest[1:]
        items.append(" || ".join(pieces))
    return items


def name_locals_sql(first: str, last: str) -> str:
    """The list of local parts (NAME_PATTERNS) a mail system would make of the name; `first`
    and `last` are SQL expressions (lower case). NULL when either name is missing."""
    f, l = name_part_sql(first), name_part_sql(last)  # noqa: E741
    # both names computed once per row, then every pattern made from them in one lambda
    return (
        f"list_transform([[{f}, {l}]], lambda p: CASE WHEN coalesce(p[1], '') = '' OR "
        f"coalesce(p[2], '') = '' THEN NULL ELSE [{', '.join(_patterns('p[1]', 'p[2]'))}] END)[1]"
    )


def name_fits_sql(local: str, f: str, l: str) -> str:  # noqa: E741
    """SQL: whether `local` is one of the local parts `name_locals_sql` makes of the name, as
    `list_contains` of that list gives it (NULL when either name or `local` is missing), without
    making the list: `f` and `l` are the name parts (`name_part_sql`), columns computed once.
    Per record, the lists' strings were the largest cost of the features (docs/benchmarks.md,
    branch `res1m2`)."""
    return (
        f"CASE WHEN coalesce({f}, '') = '' OR coalesce({l}, '') = '' THEN NULL "
        f"ELSE {local} IN ({', '.join(_patterns(f, l))}) END"
    )
