"""Splink settings derived from the model's roles: comparisons, blocking rules and priors.

Comparisons by kind: names (exact with term frequencies, first and last swapped, a first name's
nickname from the `nicknames` package, an initial, Jaro-Winkler bands), emails (a shared own
address, an address one typo apart, aliases of the name at one domain; role inboxes and a
personal mailbox against a work address are missing evidence), phones (same number and
extension, same number), text (exact, Jaro-Winkler bands), exact codes and references, dates
in bands. Every level carries a prior m and u so a small table (too small to train on) is
still scored sensibly; bigger ones re-estimate u by random sampling and m by EM.

Blocking is derived the same way: the same email anywhere; within the same referenced entity,
the same phone (with extension), last name, first name, or first name equal to last name (a swap).
"""

from __future__ import annotations

from typing import Any

from crmpipe.config.schema import ResolveSpec
from crmpipe.model import Role, Table
from crmpipe.resolution.emails import name_locals_sql
from crmpipe.resolution.features import Feature, email_columns, name_columns

Level = dict[str, Any]


def _level(sql: str, label: str, m: float, u: float, **extra: Any) -> Level:
    return {"sql_condition": sql, "label_for_charts": label, "m_probability": m,
            "u_probability": u, **extra}  # fmt: skip


def _guarded(guard: str, test: str) -> str:
    """SQL: `guard AND test`, with `test` (an edit distance, a list search) evaluated only where
    the cheap `guard` holds. DuckDB evaluates every operand of AND and OR for every pair, and
    Damerau-Levenshtein costs about 2 µs a pair: on the millions of pairs Splink samples to
    estimate u, the guard saves seconds. (NULL where `guard AND test` is NULL or false: a level
    condition reads both as "no".)"""
    return f"(CASE WHEN {guard} THEN {test} ELSE false END)"


def _null(*cols: str) -> Level:
    cond = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in cols)
    return {"sql_condition": cond, "label_for_charts": "missing", "is_null_level": True}


def _name_levels(col: str, other: str | None, first: bool) -> list[Level]:
    lv = [
        _null(col),
        _level(f'"{col}_l" = "{col}_r"', "exact", 0.82, 0.004, tf_adjustment_column=col,
               tf_adjustment_weight=1.0),
    ]  # fmt: skip
    if other:  # first and last swapped: each name the other's, one of them maybe a typo off
        cross_l, cross_r = (f'"{col}_l"', f'"{other}_r"'), (f'"{other}_l"', f'"{col}_r"')
        lv.append(_level(
            f"({_guarded(f'{cross_l[0]} = {cross_l[1]}', _typo(*cross_r))} OR "
            f"{_guarded(f'{cross_r[0]} = {cross_r[1]}', _typo(*cross_l))})",
            f"swapped with {other}", 0.04, 0.0005))  # fmt: skip
    if first:  # a name and one of its forms in the `nicknames` package: Bill ~ William
        lv.append(_level(f'list_contains("{col}_canon_l", "{col}_r") OR '
                         f'list_contains("{col}_canon_r", "{col}_l")', "nickname", 0.05,
                         0.001))  # fmt: skip
        # an initial against the name it stands for: `A.` or `A` vs `Angela`
        lv.append(_level(f"(regexp_full_match(\"{col}_l\", '[a-z]\\.?') AND "
                         f"starts_with(\"{col}_r\", left(\"{col}_l\", 1))) OR "
                         f"(regexp_full_match(\"{col}_r\", '[a-z]\\.?') AND "
                         f"starts_with(\"{col}_l\", left(\"{col}_r\", 1)))",
                         "initial", 0.02, 0.002))  # fmt: skip
    lv += [
        _level(f'jaro_winkler_similarity("{col}_l", "{col}_r") >= 0.92', "Jaro-Winkler >= 0.92",
               0.05, 0.004),
        _level(f'jaro_winkler_similarity("{col}_l", "{col}_r") >= 0.8', "Jaro-Winkler >= 0.8",
               0.03, 0.05),
        _level("ELSE", "different", 0.01, 0.94),
    ]  # fmt: skip
    return lv


def _typo(a: str, b: str, most: int = 1) -> str:
    """SQL: `a` and `b` at most `most` edits apart (Damerau-Levenshtein), computed only when
    their lengths allow it."""
    return _guarded(
        f"abs(length({a}) - length({b})) <= {most}", f"damerau_levenshtein({a}, {b}) <= {most}"
    )


def _names_agree(first: str, last: str) -> str:
    """SQL: the two records name one person — first names equal, a nickname (one a form of the
    other in the `nicknames` package) or an initial, with last names at most one typo apart;
    or one typo in the first name and the same last name; or first and last swapped."""
    f_l, f_r, l_l, l_r = (f'"{first}_l"', f'"{first}_r"', f'"{last}_l"', f'"{last}_r"')
    firsts = (
        f'({f_l} = {f_r} OR list_contains("{first}_canon_l", {f_r}) OR '
        f'list_contains("{first}_canon_r", {f_l}) OR '
        f"left({f_l}, 1) = left({f_r}, 1) AND least(length({f_l}), length({f_r})) <= 2)"
    )
    return (
        f"({_guarded(firsts, _typo(l_l, l_r))} OR {_guarded(f'{l_l} = {l_r}', _typo(f_l, f_r))}"
        f" OR {f_l} = {l_r} AND {l_l} = {f_r})"
    )


def _fitted(names: list[str], side: str) -> str:
    """SQL: the local parts a mail system makes of one side's first and last names
    (emails.NAME_PATTERNS), as text `|f.l|fl|…|` for a substring test. Made per compared pair,
    and only for the pairs the alias level's cheap guard lets through (same work domain, other
    letters): kept as a feature of every record, the text (~170 bytes a record) made up a
    sixth of what was written, copied into Splink and joined there, for a level few pairs
    reach (docs/benchmarks.md, branch `fullres1m`)."""
    first, last = (f'"{n}_{side}"' for n in names[:2])
    return f"('|' || array_to_string({name_locals_sql(first, last)}, '|') || '|')"


def _email_levels(c: str, names: list[str]) -> list[Level]:
    """Email evidence (resolution/emails.py): a shared own address; a typo of the work address;
    two addresses at one domain that both fit one record's name, the names agreeing (aliases);
    else different.
    Missing evidence (weight 0): no own address (none, or only role inboxes), or no shared
    address while one side has no work address (only personal mailboxes): a personal inbox
    says nothing about the workplace."""
    own, work, wl = f"{c}_own", f"{c}_work", f"{c}_wletters"
    fits = f"{c}_wfits"  # the record's work address is one its own name makes
    local_l, local_r = f'"{c}_wlocal_l"', f'"{c}_wlocal_r"'  # the work address's local part
    alias = []
    if len(names) >= 2:
        # aliases: angela.wright@ and awright@ at one domain, both fitting one record's name,
        # neither numbered (jason.evans@ and jevans2@ are two Jason Evanses), the names
        # agreeing (William Smith's wsmith@ and Bill Smith's william.smith@); the same letters
        # with other digits (jcarter, jcarter2) are two namesakes' mailboxes. Its m and u are
        # fixed: two namesakes at a large employer may have addresses of two conventions, so
        # it is modest evidence (+3.3), not the +13 sampling would give it
        alias.append(_level(_guarded(
            f'"{c}_wdomain_l" = "{c}_wdomain_r" AND "{wl}_l" <> "{wl}_r" AND '
            # …and neither numbered (jevans2@): a mail system numbers a namesake's address
            f'"{c}_wlocal_l" = "{wl}_l" AND "{c}_wlocal_r" = "{wl}_r"',
            f'("{fits}_l" AND contains({_fitted(names, "l")}, \'|\' || "{wl}_r" || \'|\') '
            f'OR "{fits}_r" AND contains({_fitted(names, "r")}, \'|\' || "{wl}_l" || \'|\')) '
            "AND " + _names_agree(names[0], names[1])),
            "aliases of the name at one domain", 0.1, 0.01, fix_m_probability=True,
            fix_u_probability=True))  # fmt: skip
    return [
        {"sql_condition": f'"{own}_l" IS NULL OR "{own}_r" IS NULL OR '
                          f'(NOT list_has_any("{own}_l", "{own}_r") AND '
                          f'("{work}_l" IS NULL OR "{work}_r" IS NULL))',
         "label_for_charts": "missing, a role inbox, or a personal mailbox",
         "is_null_level": True},
        _level(f'list_has_any("{own}_l", "{own}_r")', "a shared address", 0.75, 0.00001),
        # a typo in the address (jmiller vs jmilller); not just another number (jcarter vs
        # jcarter2 are two mailboxes) nor another initial (drussell vs brussell: colleagues
        # of one family name), which are how a mail system names two people, nor two
        # addresses each made of its own record's name (brandone@ Brandon Estes, brandonn@
        # Brandon Navarro)
        _level(_guarded(f"left({local_l}, 2) = left({local_r}, 2) AND "
                        f"abs(length({local_l}) - length({local_r})) <= 1",
                        f"damerau_levenshtein({local_l}, {local_r}) = 1 AND "
                        f"regexp_replace({local_l}, '[0-9]+', '', 'g') <> "
                        f"regexp_replace({local_r}, '[0-9]+', '', 'g') AND "
                        f'NOT coalesce("{fits}_l" AND "{fits}_r", false)'),
               "address one typo apart", 0.005, 0.0005),
        *alias,
        _level("ELSE", "different", 0.001, 0.998),
    ]  # fmt: skip


def _personal_email_levels(c: str) -> list[Level]:
    """A consumer's email (the mover case's customers): every own address is evidence, a
    personal mailbox included. A shared address; the first addresses one typo apart at one
    domain (`jsmith@` and `jsmtih@gmail.com`; not another number, `jsmith2@`: two mailboxes);
    else different (people have several addresses, so only modest evidence against)."""
    own, key = f"{c}_own", f"{c}_key"
    local_l, local_r = f"split_part(\"{key}_l\", '@', 1)", f"split_part(\"{key}_r\", '@', 1)"
    return [
        _null(own),
        _level(f'list_has_any("{own}_l", "{own}_r")', "a shared address", 0.75, 0.00001),
        _level(_guarded(f"split_part(\"{key}_l\", '@', 2) = split_part(\"{key}_r\", '@', 2) "
                        f"AND abs(length({local_l}) - length({local_r})) <= 1",
                        f"damerau_levenshtein({local_l}, {local_r}) = 1 AND "
                        f"least(length({local_l}), length({local_r})) >= 4 AND "
                        f"regexp_replace({local_l}, '[0-9]+', '', 'g') <> "
                        f"regexp_replace({local_r}, '[0-9]+', '', 'g')"),
               "first addresses one typo apart at one domain", 0.1, 0.0002),
        _level("ELSE", "different", 0.15, 0.9998),
    ]  # fmt: skip


def _levels(f: Feature, names: list[str]) -> list[Level]:
    c = f.column
    if f.kind == "name":
        other = None
        if len(names) == 2 and c in names:
            other = names[1 - names.index(c)]
        first = c in names and names.index(c) == 0 or "first" in c
        return _name_levels(c, other, first)
    if f.kind == "email":
        return _email_levels(c, names)
    if f.kind == "personal_email":
        return _personal_email_levels(c)
    if f.kind == "phone":
        return [
            _null(c),
            _level(f'"{c}_key_l" = "{c}_key_r"', "same number and extension", 0.8, 0.0002),
            _level(f'"{c}_l" = "{c}_r"', "same number, other extension", 0.05, 0.01),
            _level("ELSE", "different", 0.15, 0.99),
        ]
    if f.kind == "text":
        return [
            _null(c),
            _level(f'"{c}_l" = "{c}_r"', "exact", 0.6, 0.02),
            _level(f'jaro_winkler_similarity("{c}_l", "{c}_r") >= 0.9', "Jaro-Winkler >= 0.9",
                   0.15, 0.01),
            _level(f'jaro_winkler_similarity("{c}_l", "{c}_r") >= 0.7', "Jaro-Winkler >= 0.7",
                   0.15, 0.12),
            _level("ELSE", "different", 0.1, 0.85),
        ]  # fmt: skip
    if f.kind == "date":
        diff = f'abs(datediff(\'day\', "{c}_l", "{c}_r"))'
        return [
            _null(c),
            _level(f"{diff} <= 30", "within 30 days", 0.3, 0.01),
            _level(f"{diff} <= 365", "within a year", 0.3, 0.1),
            _level("ELSE", "further apart", 0.4, 0.89),
        ]
    return [  # exact
        _null(c),
        _level(f'"{c}_l" = "{c}_r"', "exact", 0.97, 0.001),
        _level("ELSE", "different", 0.03, 0.999),
    ]


def comparisons(features: list[Feature]) -> list[dict[str, Any]]:
    names = name_columns(features)
    return [
        {"output_column_name": f.column, "comparison_description": f"{f.kind} {f.column}",
         "comparison_levels": _levels(f, names)}
        for f in features
    ]  # fmt: skip


def scope_columns(tbl: Table, features: list[Feature]) -> list[str]:
    """Compared references (entity_id): duplicates of a person are looked for within one."""
    return [f.column for f in features if tbl.column(f.column).role is Role.REF]


def blocking_rules(tbl: Table, features: list[Feature], spec: ResolveSpec) -> list[str]:
    """Blocking rules (SQL on l./r.): the spec's, else derived from the roles."""
    if spec.blocking:
        return list(spec.blocking)
    scope = [f'l."{c}" = r."{c}"' for c in scope_columns(tbl, features)]
    rules: list[str] = []
    for f in features:
        if f.kind in ("email", "personal_email"):
            rules.append(f'l."{f.column}_key" = r."{f.column}_key"')
    for f in features:
        if f.kind == "phone":
            rules.append(" AND ".join([*scope, f'l."{f.column}_key" = r."{f.column}_key"']))
    names = name_columns(features)
    for n in names[:2]:
        rules.append(" AND ".join([*scope, f'l."{n}" = r."{n}"']))
    if len(names) >= 2:
        rules.append(" AND ".join([*scope, f'l."{names[0]}" = r."{names[1]}"']))
    if not names:  # entities: the same name or the same address (the first two text columns;
        # later ones such as city or county would make blocks of whole regions)
        for f in [f for f in features if f.kind == "text"][:2]:
            rules.append(" AND ".join([*scope, f'l."{f.column}" = r."{f.column}"']))
    return rules


#: With fewer pairs than this sharing an email, EM trains on the name rule instead.
MIN_EMAIL_PAIRS = 100


def training_rules(
    tbl: Table, features: list[Feature], *, email_pairs: int | None = None
) -> list[tuple[str, list[str]]]:
    """EM blocking rules, each with the comparisons it can't teach (their m stays at prior).

    The same email address links nearly only true duplicates, so EM on those pairs learns how
    a person's name, phone and title vary between records; without emails — no email column,
    or `email_pairs` (pairs of records sharing one) under MIN_EMAIL_PAIRS, as when the column
    is mapped but empty — the same last name within the same entity is used instead (a mix of
    matches and non-matches).
    """
    emails = email_columns(features)
    if emails and (email_pairs is None or email_pairs >= MIN_EMAIL_PAIRS):
        return [(f'l."{emails[0]}_key" = r."{emails[0]}_key"', [emails[0]])]
    scope = scope_columns(tbl, features)
    names = name_columns(features)
    block = names[-1:] or [f.column for f in features if f.kind == "text"][:1]
    if not block:
        return []
    cols = [*scope, *block]
    return [(" AND ".join(f'l."{c}" = r."{c}"' for c in cols), cols)]


#: How a blocking rule keeps the pairs of one pre-pass group (`exclude_column`) out: the rule
#: in parentheses, then this with the column. `incremental.blocked_pairs` takes it off again
#: and applies it to the few pairs made (a rule joined with it reads every record's group).
EXCLUSION = ' AND l."{column}" <> r."{column}"'


def excluding(rule: str, column: str) -> str:
    """`rule`, keeping pairs of one `column` value (a pre-pass group) out."""
    return f"({rule})" + EXCLUSION.format(column=column)


def without_exclusion(rule: str, column: str) -> str | None:
    """The rule `excluding(rule, column)` was made from, or None if it was not made so."""
    tail = EXCLUSION.format(column=column)
    if rule.startswith("(") and rule.endswith(")" + tail):
        return rule[1 : -len(tail) - 1]
    return None


def splink_settings(
    tbl: Table,
    features: list[Feature],
    spec: ResolveSpec,
    *,
    prior: float,
    exclude_column: str | None = "_pg",
) -> dict[str, Any]:
    """The Splink settings dictionary for deduplicating `tbl`.

    `exclude_column` (the pre-pass group) keeps pairs already linked out of Splink's blocks.
    """
    rules = blocking_rules(tbl, features, spec)
    if exclude_column:
        rules = [excluding(r, exclude_column) for r in rules]
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "_rid",
        "probability_two_random_records_match": prior,
        "blocking_rules_to_generate_predictions": rules,
        "comparisons": comparisons(features),
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        "additional_columns_to_retain": list(tbl.key),
    }


def names_guard(features: list[Feature], comps: list[dict[str, Any]]) -> str | None:
    """SQL condition on a prediction row, for tables whose records carry emails: a Splink link
    between two records whose first or last names differ outright (neither equal, similar,
    swapped, a nickname nor an initial) stands only on a shared address. Colleagues of one
    entity share its entity, main phone line, department and often title — evidence Splink
    adds up as if independent — and at 100k generated contacts 19 of 25 wrong links were such
    pairs (Melissa Cooper and Melissa Koch, Program Managers on one line), against no true one.
    None when there is no email comparison or no name (FEBRL: nothing to say it with)."""
    emails = email_columns(features)
    names = name_columns(features)
    if not emails or not names:
        return None
    by_name = {c["output_column_name"]: c for c in comps}
    levels = [lv for lv in by_name[emails[0]]["comparison_levels"] if not lv.get("is_null_level")]
    shared = len(levels) - 1  # Splink numbers the non-null levels from the top down to 0
    differ = " OR ".join(f'coalesce("gamma_{n}", -1) = 0' for n in names[:2])
    return f'(NOT ({differ}) OR "gamma_{emails[0]}" = {shared})'


def _reaches(levels: list[Level], hit: set[int]) -> str:
    """SQL on a pair's `_l`/`_r` columns: whether the level Splink gives the pair (its CASE over
    the conditions, top down, NULL read as no) is one of the indexes `hit` of `levels`."""
    whens = " ".join(  # the levels below the last one hit need not be tested
        f"WHEN {lv['sql_condition']} THEN {'true' if i in hit else 'false'}"
        for i, lv in enumerate(levels[: max(hit) + 1])
        if lv["sql_condition"] != "ELSE"
    )
    return f"(CASE {whens} ELSE false END)"


def pair_guard(features: list[Feature], comps: list[dict[str, Any]]) -> str | None:
    """SQL on a blocked pair's `_l`/`_r` columns, true for exactly the pairs `names_guard` can
    let link: the same levels' conditions, before Splink scores the pair. Of the 792k pairs the
    blocking rules made at 1M contacts (colleagues at one entity sharing a first or a last
    name), 9.4k pass: scoring the others only to drop them at the guard was most of predict.
    None where `names_guard` is None."""
    if names_guard(features, comps) is None:
        return None
    emails, names = email_columns(features), name_columns(features)
    by_name = {c["output_column_name"]: c["comparison_levels"] for c in comps}
    named = " AND ".join(
        _reaches(
            by_name[n], {i for i, lv in enumerate(by_name[n]) if lv["sql_condition"] != "ELSE"}
        )
        for n in names[:2]
    )
    levels = by_name[emails[0]]
    shared = next(i for i, lv in enumerate(levels) if not lv.get("is_null_level"))  # as above
    return f"({named} OR {_reaches(levels, {shared})})"
