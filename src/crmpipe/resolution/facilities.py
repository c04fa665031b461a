"""Facility resolution: phone first, then name + address (docs/resolve.md, "Facilities").

A facility (a row of `entities`) is identified by its phone first and by its name and address
second. The features are computed once in SQL from the records: a normalised facility name
(lower case, accents stripped, the part after `DBA`, `LAST, FIRST` as `first last`,
punctuation and legal/noise words such as `inc`, `llc`, `the`, `center`, `child care` removed,
and a trailing `home`/`family` [`daycare`] after a person's name), the street number, the
street (directions and suffixes abbreviated the USPS way, cut after the suffix, so a one-field
address's city falls away), its core word, the 5-digit postal code and city (taken from a
one-field address when the columns are empty), the state, the E.164 phone and its last 7
digits (also of a 7-digit local number, which cleaning leaves invalid: its raw value comes from
`meta.row_issues`).

Pre-pass rules (SQL): the same phone — or a 7-digit local number and a 10-digit one of the same
state sharing their last 7 digits — links two facilities when their addresses do not conflict
(other street number on another street or in another postal code: a chain's central number)
and their addresses (same street number, and the same postal code or street) agree, or their
names do (Jaro-Winkler >= 0.88, or one contained in the other) and the number is not shared
by records with different street numbers (a chain's: there a record without an address,
linked by name alone, chained the whole chain into one facility at 1M rows); the same
normalised name, street number, street and postal code links outright. Splink scores the
rest; its links are vetoed when the street addresses differ, or when the names differ and the
phones do not agree; where one side has no street address, or the street numbers differ, a
link needs the same phone number (chains share names, postal codes and central numbers).
"""

from __future__ import annotations

from typing import Any

import duckdb

from crmpipe.config.schema import ResolveSpec
from crmpipe.model import Table
from crmpipe.sqltext import quote_ident

#: Words dropped from a facility name before comparing (legal forms and the trade's fillers).
NAME_NOISE = (
    "the", "inc", "incorporated", "llc", "pllc", "llp", "lp", "ltd", "co", "corp", "corporation",
    "company", "center", "centre", "ctr", "childcare", "and",
)  # fmt: skip
#: A person-named home daycare's trailing words (`Denise Nichols Home Daycare`, `... Family
#: Child Care`), dropped so it compares with the list that writes the person alone.
HOME_WORDS = ("home", "family")
#: Address words → the USPS abbreviation (directions and street suffixes).
ADDRESS_ABBREVIATIONS = {
    "north": "n", "south": "s", "east": "e", "west": "w", "northeast": "ne", "northwest": "nw",
    "southeast": "se", "southwest": "sw", "street": "st", "str": "st", "avenue": "ave",
    "av": "ave", "drive": "dr", "road": "rd", "boulevard": "blvd", "lane": "ln", "court": "ct",
    "place": "pl", "parkway": "pkwy", "circle": "cir", "terrace": "ter", "highway": "hwy",
    "freeway": "fwy", "trail": "trl", "square": "sq", "expressway": "expy", "plaza": "plz",
    "suite": "ste", "apartment": "apt", "loop": "loop", "ridge": "rdg", "crossing": "xing",
}  # fmt: skip
#: Street suffixes (after abbreviation): a street name ends at the first one.
STREET_SUFFIXES = (
    "st", "ave", "dr", "rd", "blvd", "ln", "ct", "pl", "pkwy", "cir", "ter", "hwy", "fwy", "trl",
    "sq", "expy", "plz", "way", "loop", "rdg", "xing", "pike", "run", "row", "walk",
)  # fmt: skip
DIRECTIONS = ("n", "s", "e", "w", "ne", "nw", "se", "sw")

#: Pre-pass: names at least this similar (Jaro-Winkler) agree.
NAME_AGREES = 0.88
#: A name contained in the other agrees when the shorter has at least this many characters.
MIN_CONTAINED = 6
#: Feature columns Splink compares and the blocking rules read.
FEATURES = (
    "facility_name", "name_key", "name_block", "street_address", "street_number", "street",
    "street_core", "postal5", "city", "state", "phone", "phone7",
)  # fmt: skip
#: The pre-pass rule names (core.entity_sources.matched_by).
RULE_PHONE, RULE_PHONE7, RULE_NAME_ADDRESS = "phone", "phone (7 digits)", "name+address"


def _list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _abbr(word: str) -> str:
    items = ", ".join(f"'{k}': '{v}'" for k, v in sorted(ADDRESS_ABBREVIATIONS.items()))
    return f"coalesce(MAP {{{items}}}[{word}], {word})"


def _words(expr: str) -> str:
    """The words of `expr` (letters and digits), as a list."""
    return (
        f"list_filter(string_split(regexp_replace({expr}, '[^a-z0-9]+', ' ', 'g'), ' '), "
        "lambda w: w <> '')"
    )


def feature_select(records: str, key: str, where: str = "", *, raw_phone: bool = True) -> str:
    """SELECT of `_rid`, the key and every facility feature over the records table `records`
    (`raw_phone`: it has `_phone_raw`, the raw value of a phone cleaning found invalid)."""
    k = quote_ident(key)
    tail = r"',\s*[a-z]{2}\s+[0-9]{5}(-[0-9]{4})?\s*$'"
    sfx, dirs, noise = _list(STREET_SUFFIXES), _list(DIRECTIONS), _list(NAME_NOISE)
    home = "(" + ", ".join(f"'{w}'" for w in HOME_WORDS) + ")"
    # pre-school → preschool, l.l.c. → llc, children's → childrens; & → and; child care → one word
    # (twice: `l.l.c.` overlaps itself)
    join = r"'([a-z0-9])[-.''`]+([a-z0-9])', '\1\2', 'g'"
    joined = f"regexp_replace(regexp_replace(n1, {join}), {join})"
    name_words = _words(
        rf"regexp_replace(replace({joined}, '&', ' and '), '\b(child|day|pre) (care|school)\b', "
        r"'\1\2', 'g')"
    )
    addr_words = _words(f"CASE WHEN one_field THEN regexp_replace(a0, {tail}, '') ELSE a0 END")
    # a one-field address's city: the words after its last street suffix or number (only
    # where the row has no city: written inline, it is computed for those rows alone)
    last_mark = (
        f"len(toks) + 1 - list_position(list_reverse(list_transform(toks, "
        f"lambda w: list_contains({sfx}, w) OR regexp_matches(w, '[0-9]'))), true)"
    )
    city_after = (
        f"CASE WHEN one_field AND ({last_mark}) IS NOT NULL "
        f"THEN nullif(array_to_string(toks[({last_mark}) + 1:], ' '), '') END"
    )
    return f"""
    WITH s0 AS (
      SELECT _rid, {k}, phone, {"_phone_raw" if raw_phone else "NULL::VARCHAR AS _phone_raw"},
        lower(strip_accents(coalesce(CAST(display_name AS VARCHAR), ''))) AS n0,
        lower(strip_accents(coalesce(CAST(address AS VARCHAR), ''))) AS a0,
        nullif(lower(trim(CAST(city AS VARCHAR))), '') AS city0,
        nullif(lower(trim(CAST(state AS VARCHAR))), '') AS state0,
        nullif(left(regexp_replace(coalesce(CAST(postal_code AS VARCHAR), ''), '[^0-9]', '',
          'g'), 5), '') AS postal0
      FROM {records} {where}),
    -- names and cities: computed once per distinct value (1.1M records have ~440k names)
    nm1 AS (
      SELECT n0, regexp_replace(coalesce(nullif(regexp_extract(n0, ' d/?b/?a:? (.*)$', 1), ''),
          n0), '^([a-z''-]+), ([a-z''-]+)$', '\\2 \\1') AS n1
      FROM (SELECT DISTINCT n0 FROM s0)),
    nm2 AS (
      SELECT n0, list_filter({name_words}, lambda w: NOT list_contains({noise}, w)) AS nw
      FROM nm1),
    nm AS (
      SELECT n0,
        CASE WHEN len(nw) >= 4 AND nw[len(nw)] = 'daycare' AND nw[len(nw) - 1] IN {home}
          THEN nw[1:len(nw) - 2]
          WHEN len(nw) >= 3 AND nw[len(nw)] IN {home} THEN nw[1:len(nw) - 1]
          ELSE nw END AS name_words
      FROM nm2),
    ct AS (
      SELECT city0, nullif(array_to_string(list_transform({_words("city0")},
          lambda w: {_abbr("w")}), ' '), '') AS city1
      FROM (SELECT DISTINCT city0 FROM s0 WHERE city0 IS NOT NULL)),
    s1 AS (
      SELECT s0.*, nm.name_words, ct.city1, regexp_matches(a0, {tail}) AS one_field
      FROM s0 JOIN nm USING (n0) LEFT JOIN ct USING (city0)),
    s2 AS (
      SELECT *,
        list_transform({addr_words}, lambda w: {_abbr("w")}) AS toks,
        CASE WHEN one_field THEN regexp_extract(a0, {tail}, 0) END AS tail0
      FROM s1),
    s3 AS (
      SELECT *,
        CASE WHEN regexp_full_match(toks[1], '[0-9]+[a-z]?') THEN toks[1] END AS street_number,
        CASE WHEN regexp_full_match(toks[1], '[0-9]+[a-z]?') THEN toks[2:] ELSE toks END AS rest
      FROM s2),
    s4 AS (
      SELECT *, list_position(list_transform(rest[2:], lambda w: list_contains({sfx}, w)), true)
        AS sfx_at
      FROM s3),
    s5 AS (
      SELECT *, CASE WHEN sfx_at IS NULL THEN rest ELSE rest[1:sfx_at + 1] END AS street_toks
      FROM s4)
    SELECT _rid, {k},
      nullif(array_to_string(name_words, ' '), '') AS facility_name,
      nullif(array_to_string(name_words, ''), '') AS name_key,
      nullif(left(array_to_string(name_words, ''), 6), '') AS name_block,
      nullif(concat_ws(' ', street_number, nullif(array_to_string(street_toks, ' '), '')), '')
        AS street_address,
      street_number,
      nullif(array_to_string(street_toks, ' '), '') AS street,
      list_filter(street_toks, lambda w: NOT list_contains({dirs}, w))[1] AS street_core,
      coalesce(postal0, nullif(regexp_extract(tail0, '[0-9]{{5}}', 0), '')) AS postal5,
      coalesce(city1, {city_after}) AS city,
      coalesce(state0, nullif(regexp_extract(tail0, '[a-z]{{2}}', 0), '')) AS state,
      CAST(phone AS VARCHAR) AS phone,
      CASE WHEN phone IS NOT NULL THEN right(CAST(phone AS VARCHAR), 7)
        WHEN length(regexp_replace(coalesce(_phone_raw, ''), '[^0-9]', '', 'g')) = 7
        THEN regexp_replace(_phone_raw, '[^0-9]', '', 'g') END AS phone7
    FROM s5
    """


def _name_agrees(a: str, b: str) -> str:
    return (
        f"(jaro_winkler_similarity({a}.facility_name, {b}.facility_name) >= {NAME_AGREES} "
        f"OR (least(length({a}.name_key), length({b}.name_key)) >= {MIN_CONTAINED} AND "
        f"(contains({a}.name_key, {b}.name_key) OR contains({b}.name_key, {a}.name_key))))"
    )


def address_conflict(a: str, b: str) -> str:
    """SQL: the two street addresses are clearly two places (another number on another street,
    or in another postal code)."""
    return (
        f"({a}.street_number <> {b}.street_number AND ({a}.street_core <> {b}.street_core "
        f"OR {a}.postal5 <> {b}.postal5))"
    )


def _address_agrees(a: str, b: str) -> str:
    return (
        f"({a}.street_number = {b}.street_number AND ({a}.postal5 = {b}.postal5 "
        f"OR {a}.street_core = {b}.street_core))"
    )


def facility_prepass(con: duckdb.DuckDBPyConnection, source: str, out: str) -> int:
    """Create `out` (_rid_l, _rid_r, rule) from the facility features in `source`."""
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {out} AS
        WITH p AS (SELECT * FROM {source} WHERE phone7 IS NOT NULL),
        shared AS (
          SELECT phone7 FROM p WHERE street_number IS NOT NULL GROUP BY phone7
          HAVING count(DISTINCT street_number) > 1),
        phone AS (
          SELECT a._rid AS _rid_l, b._rid AS _rid_r,
            CASE WHEN a.phone = b.phone THEN '{RULE_PHONE}' ELSE '{RULE_PHONE7}' END AS rule
          FROM p a JOIN p b ON a.phone7 = b.phone7 AND a._rid < b._rid
          WHERE (a.phone = b.phone OR ((a.phone IS NULL OR b.phone IS NULL)
                 AND a.state = b.state))
            AND NOT coalesce({address_conflict("a", "b")}, false)
            AND coalesce({_address_agrees("a", "b")}
                 OR ({_name_agrees("a", "b")} AND a.phone7 NOT IN (SELECT phone7 FROM shared)),
                 false)),
        same AS (
          SELECT min(_rid) OVER w AS _rid_l, _rid AS _rid_r, '{RULE_NAME_ADDRESS}' AS rule
          FROM {source} WHERE name_key IS NOT NULL AND street_number IS NOT NULL
            AND street IS NOT NULL AND postal5 IS NOT NULL
          WINDOW w AS (PARTITION BY name_key, street_number, street, postal5))
        SELECT _rid_l, _rid_r, min(rule) AS rule
        FROM (SELECT * FROM phone UNION ALL SELECT * FROM same)
        WHERE _rid_l <> _rid_r GROUP BY ALL
        """
    )
    return con.execute(f"SELECT count(*) FROM {out}").fetchone()[0]


Level = dict[str, Any]


def _level(sql: str, label: str, m: float, u: float, **extra: Any) -> Level:
    return {"sql_condition": sql, "label_for_charts": label, "m_probability": m,
            "u_probability": u, **extra}  # fmt: skip


def _null(*cols: str) -> Level:
    cond = " OR ".join(f'"{c}_l" IS NULL OR "{c}_r" IS NULL' for c in cols)
    return {"sql_condition": cond, "label_for_charts": "missing", "is_null_level": True}


def _jw(col: str, at: float) -> str:
    return f'jaro_winkler_similarity("{col}_l", "{col}_r") >= {at}'


def facility_comparisons() -> list[dict[str, Any]]:
    """Splink comparisons of two facilities, each level with a prior m and u."""
    contained = (
        f'least(length("name_key_l"), length("name_key_r")) >= {MIN_CONTAINED} AND '
        '(contains("name_key_l", "name_key_r") OR contains("name_key_r", "name_key_l"))'
    )
    comps: dict[str, list[Level]] = {
        "facility_name": [
            _null("facility_name"),
            _level('"name_key_l" = "name_key_r"', "same normalised name", 0.55, 0.0005,
                   tf_adjustment_column="name_key", tf_adjustment_weight=1.0),
            _level(f"{_jw('facility_name', 0.92)} OR ({contained})",
                   "Jaro-Winkler >= 0.92 or contained", 0.2, 0.002),
            _level(_jw("facility_name", 0.8), "Jaro-Winkler >= 0.8", 0.1, 0.03),
            _level("ELSE", "different", 0.15, 0.9675),
        ],
        "street_address": [
            _null("street_core", "street_address"),
            _level('"street_number_l" = "street_number_r" AND "street_l" = "street_r"',
                   "same number and street", 0.55, 0.0002),
            _level('"street_number_l" = "street_number_r" AND ("street_core_l" = '
                   f'"street_core_r" OR {_jw("street", 0.88)})',
                   "same number, similar street", 0.3, 0.0005),
            _level('"street_core_l" = "street_core_r"', "same street", 0.05, 0.002),
            _level("ELSE", "different", 0.1, 0.9973),
        ],
        "postal5": [
            _null("postal5"),
            _level('"postal5_l" = "postal5_r"', "same postal code", 0.9, 0.02),
            _level("ELSE", "different", 0.1, 0.98),
        ],
        "city": [
            _null("city"),
            _level('"city_l" = "city_r"', "same city", 0.85, 0.05),
            _level(_jw("city", 0.9), "Jaro-Winkler >= 0.9", 0.05, 0.01),
            _level("ELSE", "different", 0.1, 0.94),
        ],
        "state": [
            _null("state"),
            _level('"state_l" = "state_r"', "same state", 0.95, 0.3),
            _level("ELSE", "different", 0.05, 0.7),
        ],
        "phone": [
            _null("phone7"),
            _level('"phone_l" = "phone_r"', "same number", 0.6, 0.0003),
            _level('"phone7_l" = "phone7_r"', "same last 7 digits", 0.1, 0.001),
            _level("ELSE", "different", 0.3, 0.9987),
        ],
    }  # fmt: skip
    return [
        {"output_column_name": name, "comparison_description": f"facility {name}",
         "comparison_levels": levels}
        for name, levels in comps.items()
    ]  # fmt: skip


def facility_blocking() -> list[str]:
    """Blocking: the same last 7 phone digits; or the same street number in the same postal
    code, or with the same street core word (a ZIP typo), or with the same name prefix in the
    same state. Only pairs the guard (`splink_guard`) can let stand are worth scoring: another
    street number, or no street, needs the same phone (the phone rule finds those), and
    everything else the same street number. The postal code with the street core word or the
    name prefix alone (2.4M and 8.3M comparisons at 1M rows, 80% of them) found nothing else;
    a postal code alone made blocks of thousands of records."""
    return [
        "l.phone7 = r.phone7",
        "l.postal5 = r.postal5 AND l.street_number = r.street_number",
        "l.street_number = r.street_number AND l.street_core = r.street_core",
        "l.name_block = r.name_block AND l.state = r.state AND l.street_number = r.street_number",
    ]


def facility_training_rules() -> list[tuple[str, list[str]]]:
    """EM on pairs sharing a phone (their phone comparison's m stays at its prior)."""
    return [("l.phone = r.phone", ["phone"])]


def splink_guard() -> str:
    """SQL condition on a prediction row: a Splink link stands unless the street addresses
    differ outright or conflict (as in the pre-pass), or the names differ while the phones do
    not agree; a record without a street address needs the same phone (and postal code or
    normalised name), another number on the same street the same phone."""
    conflict = (
        '"street_number_l" <> "street_number_r" AND ("street_core_l" <> "street_core_r" '
        'OR "postal5_l" <> "postal5_r")'
    )
    # A record without a street address has only its name, postal code and phone to go by,
    # and chains share names, postal codes and central numbers: it links only on the same
    # phone number, in the same postal code or (postal codes not differing) with the same
    # normalised name. Another number on the same street is another place unless the phone
    # is the same.
    no_street = (
        "coalesce(gamma_street_address, -1) <> -1 OR (gamma_phone = 2 AND "
        "(gamma_postal5 = 1 OR (gamma_facility_name = 3 AND coalesce(gamma_postal5, -1) <> 0)))"
    )
    other_number = "coalesce(gamma_street_address, -1) <> 1 OR gamma_phone = 2"
    return (
        f"NOT coalesce({conflict}, false) AND coalesce(gamma_street_address, -1) <> 0 AND "
        "(coalesce(gamma_facility_name, -1) <> 0 OR coalesce(gamma_phone, -1) > 0) AND "
        f"({no_street}) AND ({other_number})"
    )


#: Assumed share of facility records with a duplicate elsewhere (for the match prior when the
#: pre-pass finds few: lists from several agencies overlap).
DUPLICATE_SHARE = 0.1


def is_facility_table(tbl: Table, spec: ResolveSpec) -> bool:
    """Entities are resolved as facilities unless `comparisons:` asks for the role-derived ones."""
    return spec.resolves_facilities(tbl.name)


def facility_prior(prepass_pairs: int, records: int, recall: float) -> float:
    """The probability that two random facility records match."""
    n = max(records, 2)
    pairs = n * (n - 1) / 2
    prior = max(prepass_pairs / recall / pairs, DUPLICATE_SHARE * n / 2 / pairs)
    return min(max(prior, 1e-8), 0.01)


def facility_settings(
    key: str, spec: ResolveSpec, *, prior: float, exclude_column: str | None = "_pg"
) -> dict[str, Any]:
    """The Splink settings dictionary for deduplicating facilities."""
    rules = list(spec.blocking) if spec.blocking else facility_blocking()
    if exclude_column:
        rules = [f'({r}) AND l."{exclude_column}" <> r."{exclude_column}"' for r in rules]
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "_rid",
        "probability_two_random_records_match": prior,
        "blocking_rules_to_generate_predictions": rules,
        "comparisons": facility_comparisons(),
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,
        "additional_columns_to_retain": [key],
    }
