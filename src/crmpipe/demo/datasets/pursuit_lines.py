"""The pursuit case's contact files, line by line: their headers, and the DuckDB SQL that renders
each drawn contact row as its messy CSV line and its truth.csv line.

The rows themselves are drawn in crmpipe.demo.datasets.pursuit_contacts (table `base`).
"""

from __future__ import annotations

from crmpipe.demo.datasets import mess as m

CONTACT_HEADER = (
    "contact_id",
    "place_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "department",
    "created_at",
)
TRUTH_HEADER = (
    "contact_id",
    "entity_id",
    "first_name",
    "last_name",
    "title",
    "department",
    "emails",
    "phone",
    "phone_ext",
    "created_at",
    "source_file",
    "rejected",
)
CONTACT_FILES = ("contacts_1.csv", "contacts_2.csv")


def _email_local(pattern: str) -> str:
    """SQL for the local part of a work address in pattern `pattern` (an int expression)."""
    return (
        f"CASE {pattern} WHEN 0 THEN concat(fl, '.', ll) WHEN 1 THEN concat(left(fl, 1), ll) "
        f"WHEN 2 THEN concat(fl, left(ll, 1)) WHEN 3 THEN fl WHEN 4 THEN concat(fl, '_', ll) "
        f"ELSE concat(ll, left(fl, 1)) END"
    )


def email_cte() -> str:
    """CTE `b`: `base` plus each row's clean primary (e1) and secondary (e2) address."""
    e1 = (
        "CASE WHEN personal THEN concat(CASE WHEN nn >= 0 THEN concat(fl, ll, "
        "lpad(CAST(nn AS VARCHAR), 2, '0')) ELSE concat(fl, '.', ll) END, '@', pdom) "
        f"ELSE concat({_email_local('epat')}, '@', edom) END"
    )
    e2 = (
        f"CASE WHEN has_dom AND NOT personal AND NOT e2personal THEN concat("
        f"{_email_local('epat2')}, '@', edom) WHEN has_dom AND personal THEN concat("
        f"{_email_local('epat')}, '@', edom) ELSE concat(fl, '.', ll, '@', pdom2) END"
    )
    numbered = "CASE WHEN sfx > 0 THEN replace({0}, '@', CAST(sfx AS VARCHAR) || '@') ELSE {0} END"
    return (
        f"b AS (SELECT *, {numbered.format(e1)} AS e1, {numbered.format(e2)} AS e2 "
        "FROM base WHERE {where})"
    )


def _contact_id_sql(id_width: int) -> str:
    return f"concat('c', lpad(CAST(contact_num AS VARCHAR), {id_width}, '0'))"


def lines_sql(id_width: int, where: str) -> str:
    """The contact rows matching `where` as finished CSV lines: `file, pos, contact_num, line`
    (the messy row) and `truth` (its truth.csv line)."""
    e1_shown = (
        "CASE e_inv WHEN 1 THEN replace(e1, '@', '@@') WHEN 2 THEN replace(e1, '@', ' at ') "
        "WHEN 3 THEN concat(split_part(e1, '@', 1), '@', split_part(split_part(e1, '@', 2), "
        "'.', 1)) WHEN 4 THEN concat(split_part(e1, '@', 1), '@') ELSE e1 END"
    )
    sep = (
        "CASE e_sep WHEN 1 THEN '; ' WHEN 2 THEN ', ' WHEN 3 THEN ' ' WHEN 4 THEN ';' ELSE ',' END"
    )
    email_field = (
        "CASE e_struct WHEN 0 THEN e1c "
        f"WHEN 1 THEN concat(e1c, {sep}, e2) "
        f"ELSE concat(e1c, {sep}, CASE WHEN e_case = 1 THEN e1 ELSE upper(e1) END) END"
    )
    e1_cased = (
        "CASE e_case WHEN 0 THEN e1s WHEN 1 THEN upper(e1s) "
        "ELSE concat(upper(left(e1s, 1)), substr(e1s, 2)) END"
    )
    fields = [
        _contact_id_sql(id_width),
        "place_id",
        m.sql_ws_noise("fn", "fn_ws"),
        m.sql_ws_noise("ln", "ln_ws"),
        m.sql_null(m.sql_ws_noise("ef", "e_ws"), "e_null"),
        m.sql_null("ph", "p_null"),
        m.sql_null(m.sql_ws_noise("tt", "t_ws"), "t_null"),
        m.sql_null(m.sql_ws_noise("dd", "d_ws"), "d_null"),
        m.sql_null(m.sql_timestamp_text("created", "c_fmt"), "c_null"),
    ]
    line = m.sql_csv_line(
        fields, needs_quoting=[False, False, False, False, True, False, True, True, False]
    )
    return f"""
        WITH {email_cte().format(where=where)},
        c0 AS (SELECT *, {e1_shown} AS e1s FROM b),
        c AS (SELECT *, {e1_cased} AS e1c FROM c0),
        d AS (SELECT *,
            {email_field} AS ef,
            {m.sql_case_noise("first_name", "fn_case")} AS fn,
            {m.sql_case_noise("last_name", "ln_case")} AS ln,
            {m.sql_case_noise("title", "t_case")} AS tt,
            {m.sql_case_noise("department", "d_case")} AS dd,
            {
        m.sql_concat(m.sql_phone("area", "exch", "pline", "p_fmt"), m.sql_extension("ext", "x_fmt"))
    } AS ph
            FROM c)
        SELECT file, pos, contact_num, {line} AS line, {_truth_line(id_width)} AS truth FROM d
    """


def _truth_line(id_width: int) -> str:
    """SQL for a row's truth.csv line: its clean values, as a correct pipeline ends them."""
    fields = [
        _contact_id_sql(id_width),
        "place_id",
        "first_name",
        "last_name",
        "CASE WHEN t_null = 0 THEN title ELSE '' END",
        "CASE WHEN d_null = 0 THEN department ELSE '' END",
        "CASE WHEN e_null = 0 THEN concat_ws(';', CASE WHEN e_inv = 0 THEN e1 END, "
        "CASE WHEN e_struct = 1 AND (e_inv <> 0 OR e2 <> e1) THEN e2 END) ELSE '' END",
        f"CASE WHEN p_null = 0 THEN {m.sql_phone_e164('area', 'exch', 'pline')} ELSE '' END",
        "CASE WHEN p_null = 0 AND ext IS NOT NULL THEN CAST(ext AS VARCHAR) ELSE '' END",
        f"CASE WHEN c_null = 0 THEN {m.sql_timestamp_truth('created', 'c_fmt')} ELSE '' END",
        f"CASE file WHEN 1 THEN {m.sql_str(CONTACT_FILES[0])} "
        f"ELSE {m.sql_str(CONTACT_FILES[1])} END",
        "CASE WHEN rejected THEN 'true' ELSE 'false' END",
    ]
    quoting = [False, False, False, False, True, True, False, False, False, False, False, False]
    return m.sql_csv_line(fields, needs_quoting=quoting)
