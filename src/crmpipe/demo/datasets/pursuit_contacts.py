"""The pursuit case's contacts: who works where, their names, titles, e-mails, phones and
creation times, the re-exported updates and malformed lines, and the mess planted per row.

Everything is drawn with numpy into one Arrow table and rendered to `contacts_1.csv`,
`contacts_2.csv` and `truth.csv` in one DuckDB pass (crmpipe.demo.datasets.pursuit_lines).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from crmpipe.demo.datasets import mess as m
from crmpipe.demo.datasets import vocab as v
from crmpipe.demo.datasets.pursuit_entities import Entities, url_domain
from crmpipe.demo.datasets.pursuit_lines import (
    CONTACT_FILES,
    CONTACT_HEADER,
    TRUTH_HEADER,
    email_cte,
    lines_sql,
)

#: Shares and rates of the generated data. Mess rates are per written contact row.
FILE1_SHARE = 0.80  # contacts in the first export
UPDATE_SHARE = 0.005  # of file-1 contacts re-exported in file 2 with a new title
MALFORMED_EVERY = 200_000  # about one malformed line per this many rows, at least 3 per file
MAIN_LINE_SHARE = 0.22  # contacts reached through the entity's main number and an extension
PERSONAL_EMAIL_SHARE = 0.03  # contacts whose primary email is a personal mailbox
#: Share of contacts with an accented first name (José, Zoë, ...), written as UTF-8.
ACCENTED_NAME_SHARE = 0.01
EMAIL_PATTERNS = ("first.last", "flast", "firstl", "first", "first_last", "lastf")
EMAIL_PATTERN_WEIGHTS = (0.45, 0.28, 0.06, 0.08, 0.07, 0.06)
CREATED_RANGE = (1_420_070_400, 1_751_241_600)  # 2015-01-01 .. 2025-06-30 (UTC)

RATES: dict[str, list[float]] = {
    # names: case (upper, lower) and whitespace (padded, trailing, leading)
    "name_case": [0.02, 0.02],
    "name_ws": [0.015, 0.01, 0.005],
    # titles: case (upper, lower, sentence), whitespace (+ doubled inside), null tokens
    "title_case": [0.02, 0.02, 0.01],
    "title_ws": [0.01, 0.01, 0.005, 0.01],
    "title_null": m.null_token_probs(0.03),
    "dept_case": [0.01, 0.02],
    "dept_ws": [0.01, 0.005],
    "dept_null": m.null_token_probs(0.05),
    # emails: null, structure (two addresses, duplicate), invalid kinds, case, whitespace
    "email_null": m.null_token_probs(0.03),
    "email_struct": [0.04, 0.005],
    "email_invalid": [0.006, 0.006, 0.006, 0.004],  # @@, ' at ', no TLD, no domain
    "email_case": [0.015, 0.025],  # UPPER, Capitalized
    "email_ws": [0.01, 0.01, 0.005],
    "email_sep": [0.35, 0.25, 0.20, 0.10],  # '; ', ', ', ' ', ';' (else ',') among multi
    "phone_null": m.null_token_probs(0.05),
    "created_null": m.null_token_probs(0.02),
    # timestamp layouts other than the main one: date, ISO T, m/d/yyyy, m/d/yy, epoch
    "created_format": [0.035, 0.035, 0.035, 0.025, 0.02],
}


def write_contacts(
    folder: Path,
    ents: Entities,
    state_idx: np.ndarray,
    n: int,
    rng: np.random.Generator,
    rng_mess: np.random.Generator,
) -> tuple[dict[str, int], pa.Table]:
    """contacts_1.csv, contacts_2.csv and truth.csv; also the kept rows (file, row, contact)."""
    n_ent = len(ents)
    # ---- per entity: contact weight, kind, mail domain and pattern, phone numbers
    pops = np.array([_int_or(p, -1) for p in ents.pop_text], dtype=np.float64)
    median = float(np.median(pops[pops > 0])) if (pops > 0).any() else 5000.0
    pops[pops <= 0] = median
    weight = pops**0.6 * np.exp(rng.normal(0.0, 0.6, n_ent))
    kinds = np.array([v.KINDS.index(v.kind_of_sum_lev(s)) for s in ents.sum_lev], np.int8)
    domains = [url_domain(u) for u in ents.url]
    has_dom_ent = np.array([bool(d) for d in domains])
    ent_pattern = m.draw_choice(rng, n_ent, np.array(EMAIL_PATTERN_WEIGHTS))
    area_codes = np.array(
        [
            v.STATES[s].area_codes[int(r * len(v.STATES[s].area_codes))] if s >= 0 else 0
            for s, r in zip(state_idx.tolist(), rng.random(n_ent).tolist(), strict=True)
        ],
        dtype=np.int16,
    )
    unknown = area_codes == 0
    all_codes = np.array(sorted({c for s in v.STATES for c in s.area_codes}), np.int16)
    area_codes[unknown] = all_codes[rng.integers(0, len(all_codes), int(unknown.sum()))]
    main_exch = _exchanges(rng, n_ent)
    main_line = rng.integers(0, 10_000, n_ent).astype(np.int16)

    # ---- per contact
    ent = np.repeat(np.arange(n_ent, dtype=np.int32), rng.multinomial(n, weight / weight.sum()))
    rng.shuffle(ent)
    male = rng.random(n) < 0.5
    fm, ff = v.first_names("m"), v.first_names("f")
    first_names = [*fm.names, *ff.names, *m.LATIN1_NAMES]
    first = np.empty(n, np.int32)
    first[male] = m.draw_choice(rng, int(male.sum()), fm.probs)
    first[~male] = m.draw_choice(rng, int((~male).sum()), ff.probs) + len(fm.names)
    # Real US exports carry some accented names (José, Zoë), written as UTF-8: that is also what
    # tells the sniffer the files are UTF-8, so the planted cp1252 line is rejected, not re-read.
    accented = np.flatnonzero(rng.random(n) < ACCENTED_NAME_SHARE)
    first[accented] = (
        len(fm.names) + len(ff.names) + rng.integers(0, len(m.LATIN1_NAMES), accented.size)
    )
    last_vocab = v.last_names()
    last = m.draw_choice(rng, n, last_vocab.probs)
    tv = v.titles()
    title = np.empty(n, np.int32)
    ckind = kinds[ent]
    for k, kind in enumerate(v.KINDS):
        sel = np.flatnonzero(ckind == k)
        title[sel] = m.draw_choice(rng, sel.size, tv.probs[kind])
    created = np.sort(rng.integers(*CREATED_RANGE, n))
    created = created - created % 86_400 + _office_seconds(rng, n)
    personal = (rng.random(n) < PERSONAL_EMAIL_SHARE) | ~has_dom_ent[ent]
    epat = np.where(
        rng.random(n) < 0.9,
        ent_pattern[ent],
        m.draw_choice(rng, n, np.array(EMAIL_PATTERN_WEIGHTS)),
    ).astype(np.int8)
    epat2 = (epat + 1 + rng.integers(0, len(EMAIL_PATTERNS) - 1, n)) % len(EMAIL_PATTERNS)
    nn = np.where(rng.random(n) < 0.6, rng.integers(0, 100, n), -1).astype(np.int16)
    pd_p = np.array([w for _, w in v.PERSONAL_DOMAINS])
    pdom, pdom2 = m.draw_choice(rng, n, pd_p), m.draw_choice(rng, n, pd_p)
    on_main = rng.random(n) < MAIN_LINE_SHARE
    exch = np.where(on_main, main_exch[ent], _exchanges(rng, n)).astype(np.int16)
    pline = np.where(on_main, main_line[ent], rng.integers(0, 10_000, n)).astype(np.int16)
    ext_digits = rng.integers(1, 4, n)  # 1..3 → extensions of 2..4 digits
    ext = (10**ext_digits + rng.integers(0, 9 * 10**ext_digits)).astype(np.int32)
    ext = np.where(on_main, ext, -1)

    # ---- rows, in contact order: file 1 holds the first 80% of contacts; file 2 the rest and,
    # right after their file-1 row, the re-exported versions of updated contacts (new title).
    # Each file is then sorted by contact_id, and the winners come out in truth order.
    n1 = int(round(n * FILE1_SHARE))
    n_upd = int(round(n1 * UPDATE_SHARE))
    upd = np.sort(rng.choice(n1, size=n_upd, replace=False)) if n_upd else np.zeros(0, np.int64)
    row_contact = np.concatenate([np.arange(n), upd])
    file_no = np.concatenate([np.ones(n1, np.int8), np.full(n - n1 + n_upd, 2, np.int8)])
    order = np.argsort(row_contact * 2 + (file_no - 1), kind="stable")
    row_contact, file_no = row_contact[order], file_no[order]
    n_rows = row_contact.size
    is_update = np.zeros(n_rows, bool)
    is_update[order >= n] = True
    updated = np.zeros(n, bool)
    updated[upd] = True
    winner = ~(updated[row_contact] & (file_no == 1))
    in_file = [np.flatnonzero(file_no == f) for f in (1, 2)]
    pos = np.empty(n_rows, np.int32)
    for rows in in_file:
        pos[rows] = np.arange(rows.size)
    row_title = title[row_contact]
    upd_rows = np.flatnonzero(is_update)
    new_title = np.empty(upd_rows.size, np.int32)
    for k, kind in enumerate(v.KINDS):  # a promotion or a move: another title of the same kind
        sel = np.flatnonzero(ckind[row_contact[upd_rows]] == k)
        new_title[sel] = m.draw_choice(rng, sel.size, tv.probs[kind])
    same = new_title == row_title[upd_rows]
    new_title[same] = (new_title[same] + 1) % len(tv.titles)
    row_title[upd_rows] = new_title

    # ---- malformed lines, about one per MALFORMED_EVERY rows and at least 3 per file, never
    # on a row of an updated contact (so which version wins never depends on the reader)
    rejected = np.zeros(n_rows, bool)
    malformed: dict[int, str] = {}  # row -> kind
    row_first = first[row_contact]
    for rows in in_file:
        eligible = rows[~updated[row_contact[rows]]]
        k = min(max(3, round(rows.size / MALFORMED_EVERY)), eligible.size // 10)
        if k <= 0:
            continue
        chosen = np.sort(rng_mess.choice(eligible, size=k, replace=False))
        kinds_mal = list(m.MALFORMED_KINDS) + [
            m.MALFORMED_KINDS[i] for i in rng_mess.integers(0, 3, max(0, k - 3))
        ]
        kinds_mal = [kinds_mal[i] for i in rng_mess.permutation(len(kinds_mal))]
        for row, kind in zip(chosen.tolist(), kinds_mal[:k], strict=True):
            malformed[row] = kind
            if kind == "invalid_utf8":  # an accented name, to be written as Windows-1252
                row_first[row] = len(first_names) - len(m.LATIN1_NAMES) + row % len(m.LATIN1_NAMES)
        rejected[chosen] = True

    # ---- mess codes per row
    R = RATES
    codes = {
        "fn_case": m.draw_codes(rng_mess, n_rows, R["name_case"]),
        "fn_ws": m.draw_codes(rng_mess, n_rows, R["name_ws"]),
        "ln_case": m.draw_codes(rng_mess, n_rows, R["name_case"]),
        "ln_ws": m.draw_codes(rng_mess, n_rows, R["name_ws"]),
        "t_case": m.draw_codes(rng_mess, n_rows, R["title_case"]),
        "t_ws": m.draw_codes(rng_mess, n_rows, R["title_ws"]),
        "t_null": m.draw_codes(rng_mess, n_rows, R["title_null"]),
        "d_case": m.draw_codes(rng_mess, n_rows, R["dept_case"]),
        "d_ws": m.draw_codes(rng_mess, n_rows, R["dept_ws"]),
        "d_null": m.draw_codes(rng_mess, n_rows, R["dept_null"]),
        "e_null": m.draw_codes(rng_mess, n_rows, R["email_null"]),
        "e_struct": m.draw_codes(rng_mess, n_rows, R["email_struct"]),
        "e_inv": m.draw_codes(rng_mess, n_rows, R["email_invalid"]),
        "e_case": m.draw_codes(rng_mess, n_rows, R["email_case"]),
        "e_ws": m.draw_codes(rng_mess, n_rows, R["email_ws"]),
        "e_sep": m.draw_codes(rng_mess, n_rows, R["email_sep"]),
        "p_null": m.draw_codes(rng_mess, n_rows, R["phone_null"]),
        "p_fmt": m.draw_choice(rng_mess, n_rows, np.array(m.PHONE_FORMAT_WEIGHTS)).astype(np.int8),
        "x_fmt": m.draw_choice(rng_mess, n_rows, np.array(m.EXT_FORMAT_WEIGHTS)).astype(np.int8),
        "c_null": m.draw_codes(rng_mess, n_rows, R["created_null"]),
        "c_fmt": m.draw_codes(rng_mess, n_rows, R["created_format"]),
    }
    codes["e_struct"][(codes["e_struct"] == 2) & (codes["e_inv"] > 0)] = 0  # dup only if valid

    rc = row_contact
    e_of = ent[rc]
    ext_rows = ext[rc]
    personal_domains = [d for d, _ in v.PERSONAL_DOMAINS]
    base = m.arrow_table(
        {
            "file": file_no,
            "pos": pos,
            "contact_num": (rc + 1).astype(np.int32),
            "winner": winner,
            "rejected": rejected,
            "place_id": m.dictionary_column(e_of, ents.place_id),
            "first_name": m.dictionary_column(row_first, first_names),
            "fl": m.dictionary_column(row_first, [_mail_word(x) for x in first_names]),
            "last_name": m.dictionary_column(last[rc], last_vocab.names),
            "ll": m.dictionary_column(last[rc], [_mail_word(x) for x in last_vocab.names]),
            "title": m.dictionary_column(row_title, tv.titles),
            "department": m.dictionary_column(tv.title_dept[row_title], tv.departments),
            "edom": m.dictionary_column(e_of, domains),
            "has_dom": has_dom_ent[e_of],
            "personal": personal[rc],
            "e2personal": rng_mess.random(n_rows) < 0.5,
            "pdom": m.dictionary_column(pdom[rc], personal_domains),
            "pdom2": m.dictionary_column(pdom2[rc], personal_domains),
            "epat": epat[rc],
            "epat2": epat2[rc].astype(np.int8),
            "nn": nn[rc],
            "area": area_codes[e_of],
            "exch": exch[rc],
            "pline": pline[rc],
            "ext": m.arrow_column(ext_rows.astype(np.int32), mask=ext_rows < 0),
            "created": created[rc],
            "sfx": np.zeros(n_rows, np.int32),
            **codes,
        }
    )

    id_width = max(7, len(str(n)))
    counts = {f"malformed_{k}": 0 for k in m.MALFORMED_KINDS}
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")  # files are written in base's order
        con.execute("SET enable_progress_bar = false")
        con.register("base", base)
        # Two people at one place can get the same address (aadams@ for Abigail and Arthur
        # Adams); a mail system numbers the later one (aadams2@), so an address is one person's.
        # Numbering can clash again (a second klawson2@), so repeat until no address is shared.
        sfx = np.zeros(n + 1, np.int32)
        for _ in range(20):
            clash = con.execute(
                f"WITH {email_cte().format(where='NOT rejected')} SELECT contact_num, max(r) "
                "FROM (SELECT contact_num, dense_rank() OVER (PARTITION BY addr ORDER BY "
                "contact_num) AS r FROM (SELECT DISTINCT contact_num, unnest([e1, e2]) AS addr "
                "FROM b)) WHERE r > 1 GROUP BY contact_num"
            ).fetchnumpy()
            if not clash["contact_num"].size:
                break
            nums = clash["contact_num"].astype(np.int64)
            ranks = clash["max(r)"].astype(np.int32)
            sfx[nums] = np.where(sfx[nums] > 0, sfx[nums] + ranks - 1, ranks)
            base = base.set_column(
                base.schema.get_field_index("sfx"), "sfx", pa.array(sfx[rc + 1], pa.int32())
            )
            con.register("base", base)
        # malformed lines, built from the good line of the same row
        repl: dict[int, dict[int, bytes]] = {1: {}, 2: {}}
        if malformed:
            good = con.execute(lines_sql(id_width, "rejected")).fetchall()
            for j, (f, p, _, line, _) in enumerate(good):
                row = int(in_file[f - 1][p])
                kind = malformed[row]
                repl[f][p] = m.malformed_line(kind, next(csv.reader([line])), index=j)
                counts[f"malformed_{kind}"] += 1
        # one pass writes both contact files and the truth: base is in contact order, so each
        # file's rows and the winners are in order too
        header = ",".join(CONTACT_HEADER)
        contact_num = (rc + 1).astype(np.int32)
        with (
            m.LineWriter(folder / CONTACT_FILES[0], header, replacements=repl[1]) as w1,
            m.LineWriter(folder / CONTACT_FILES[1], header, replacements=repl[2]) as w2,
            m.LineWriter(folder / "truth.csv", ",".join(TRUTH_HEADER)) as wt,
        ):
            start = 0
            sql = lines_sql(id_width, "true")
            for batch in con.sql(sql).to_arrow_reader(1_000_000):
                stop = start + batch.num_rows
                got = batch.column("contact_num").to_numpy()
                if not np.array_equal(got, contact_num[start:stop]):
                    raise RuntimeError("DuckDB returned the contact rows out of order")
                f = file_no[start:stop]
                w1.write(batch.column("line"), f == 1)
                w2.write(batch.column("line"), f == 2)
                wt.write(batch.column("truth"), winner[start:stop])
                start = stop
            counts[CONTACT_FILES[0]], counts[CONTACT_FILES[1]] = w1.close(), w2.close()
            counts["truth.csv"] = wt.close()
    finally:
        con.close()

    # The rows ingest keeps, numbered as it numbers them (the data row's number in its file,
    # malformed records counted), for the resolution truth (datasets/duplicates.py).
    kept_rows = []
    for f, rows in enumerate(in_file):
        kept_mask = ~rejected[rows]
        ok = rows[kept_mask]
        kept_rows.append(
            pa.table(
                {
                    "file": pa.array([CONTACT_FILES[f]] * ok.size, pa.string()),
                    "row": (np.flatnonzero(kept_mask) + 1).astype(np.int64),
                    "contact_num": (row_contact[ok] + 1).astype(np.int64),
                }
            )
        )
    kept = pa.concat_tables(kept_rows)
    counts.update(
        {
            "contacts": n,
            "contact_rows": n_rows,
            "updated_contacts": n_upd,
            "malformed_lines": len(malformed),
            "rejected_contacts": int(rejected.sum()),
            "name_case_noise": int((codes["fn_case"] > 0).sum() + (codes["ln_case"] > 0).sum()),
            "name_whitespace_noise": int((codes["fn_ws"] > 0).sum() + (codes["ln_ws"] > 0).sum()),
            "title_case_noise": int(((codes["t_case"] > 0) & (codes["t_null"] == 0)).sum()),
            "title_whitespace_noise": int(((codes["t_ws"] > 0) & (codes["t_null"] == 0)).sum()),
            "title_null_tokens": int((codes["t_null"] > 0).sum()),
            "department_null_tokens": int((codes["d_null"] > 0).sum()),
            "email_null_tokens": int((codes["e_null"] > 0).sum()),
            "multi_email_fields": int(((codes["e_struct"] == 1) & (codes["e_null"] == 0)).sum()),
            "duplicate_email_fields": int(
                ((codes["e_struct"] == 2) & (codes["e_null"] == 0)).sum()
            ),
            "invalid_emails": int(((codes["e_inv"] > 0) & (codes["e_null"] == 0)).sum()),
            "email_case_noise": int(((codes["e_case"] > 0) & (codes["e_null"] == 0)).sum()),
            "phone_null_tokens": int((codes["p_null"] > 0).sum()),
            "phone_nonstandard_formats": int(((codes["p_fmt"] > 1) & (codes["p_null"] == 0)).sum()),
            "phone_extensions": int(((ext_rows >= 0) & (codes["p_null"] == 0)).sum()),
            "created_null_tokens": int((codes["c_null"] > 0).sum()),
            "created_nonstandard_formats": int(
                ((codes["c_fmt"] > 0) & (codes["c_null"] == 0)).sum()
            ),
            "null_tokens": int(
                sum(
                    (codes[c] > 0).sum() for c in ("t_null", "d_null", "e_null", "p_null", "c_null")
                )
            ),
        }
    )
    return counts, kept


def _int_or(text: str, default: int) -> int:
    digits = text.replace(",", "").strip()
    return int(digits) if digits.isdigit() else default


def _mail_word(name: str) -> str:
    """A name as it appears in an email address: lower case letters only."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_name.lower()) or "x"


def _exchanges(rng: np.random.Generator, n: int) -> np.ndarray:
    """Valid NANP exchange codes: 200–999, not N11 and not 555."""
    e = rng.integers(200, 1000, n)
    bad = (e % 100 == 11) | (e == 555)
    e[bad] += 1
    return e.astype(np.int16)


def _office_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight UTC of records created during US office hours, mostly."""
    hours = np.clip(rng.normal(17.0, 2.5, n), 0, 23.99)  # 17:00 UTC ≈ noon Eastern
    return (hours * 3600).astype(np.int64)
