"""An independent alias set: people duplicated by another noise model than crmpipe's generator.

crmpipe's own generator (crmpipe.demo.datasets.duplicates) plants duplicates that keep their
address or lose it; this set duplicates people the way a second CRM really does (issue 15):

- `crm_a.csv` holds every person once, at a workplace whose mail system has one convention
  (`angela.wright@`, `awright@`, `angelaw@`, `angela_wright@`, `angelawright@`; a namesake at
  the same place gets a number), with a phone most of the time; a few people of small offices
  only have the office's shared inbox (`info@`, `office@`, `frontdesk@`, …).
- `crm_b.csv` holds a share of the same people again, at the same entity, with another address
  for the same person — an alias of another convention at the same domain (`awright@` for
  `angela.wright@`), a personal mailbox (`angela.wright84@gmail.com`), the same address
  (sometimes upper-cased) or none — upper-cased names, one-letter typos, first and last
  swapped, a nickname or an initial, and often no phone; plus people seen only there, some
  of them behind the office's shared inbox as well (two people sharing `info@` are two people).

The nicknames come from the demo vocabulary (crmpipe.demo.datasets.vocab.NICKNAMES), not from
the `nicknames` package the resolution uses, so the set does not grade the package against
itself. `truth.csv` is keyed by record id (`contact_id,true_id`). Seeded: the same arguments
write the same files. Plain Python over tens of thousands of people (a benchmark input, not
product code). `benchmarks/resolve.py --aliases` runs it through `crmpipe run` and scores it.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from crmpipe.demo.datasets import vocab as v

#: Mail conventions of a workplace (one per entity), as functions of (first, last).
CONVENTIONS: dict[str, str] = {
    "first.last": "{f}.{l}",
    "flast": "{fi}{l}",
    "firstl": "{f}{li}",
    "first_last": "{f}_{l}",
    "firstlast": "{f}{l}",
    "last.first": "{l}.{f}",
}
PERSONAL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com")
ROLE_INBOXES = ("info", "office", "frontdesk", "admin", "contact")
TLDS = (".gov", ".org", ".us", ".com")
TITLES = (
    "City Clerk", "Finance Director", "Planner", "Public Works Director", "Librarian",
    "Police Chief", "Fire Chief", "IT Manager", "Parks Coordinator", "Treasurer",
    "Building Inspector", "HR Manager", "Deputy Clerk", "Accountant", "Engineer",
)  # fmt: skip

#: Rates of the second CRM's noise (each drawn on its own).
RATES: dict[str, float] = {
    "dup": 0.30,  # share of people found again in crm_b
    "b_only": 0.10,  # people only in crm_b, as a share of all people
    "email_alias": 0.35,  # else personal, same, none (below)
    "email_personal": 0.25,
    "email_same": 0.25,
    "upper": 0.20,
    "typo": 0.12,
    "swap": 0.05,
    "nickname": 0.5,  # of those whose name has a nickname in the vocabulary
    "initial": 0.04,
    "no_phone": 0.6,
    "role_inbox_a": 0.01,  # crm_a people of small offices with only the shared inbox
    "role_inbox_b": 0.05,  # crm_b-only people behind the shared inbox
    "a_phone": 0.9,
}


@dataclass
class AliasCase:
    """The written project: its config, the truth file and the counts."""

    config: Path
    truth: Path
    people: int
    records: int


def _ascii(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


def _local(pattern: str, first: str, last: str) -> str:
    f, l = _ascii(first), _ascii(last)  # noqa: E741 - l is "last" in the patterns
    return CONVENTIONS[pattern].format(f=f, l=l, fi=f[:1], li=l[:1])


def _typo(s: str, rnd: random.Random) -> str:
    if len(s) < 4:
        return s
    k = rnd.randrange(1, len(s) - 1)
    kind = rnd.randrange(4)
    if kind == 0:
        return s[:k] + s[k + 1 :]
    if kind == 1:
        return s[:k] + s[k + 1] + s[k] + s[k + 2 :]
    if kind == 2:
        return s[:k] + s[k] + s[k:]
    return s[:k] + rnd.choice("aeioulnrst") + s[k + 1 :]


def _phone(rnd: random.Random) -> str:
    return f"{rnd.randint(201, 989)}{rnd.randint(200, 999)}{rnd.randint(0, 9999):04d}"


def _fmt_phone(p: str, rnd: random.Random) -> str:
    return rnd.choice(
        (f"({p[:3]}) {p[3:6]}-{p[6:]}", f"{p[:3]}.{p[3:6]}.{p[6:]}", f"+1 {p[:3]} {p[3:6]} {p[6:]}")
    )


def generate(folder: Path, people: int = 20_000, *, seed: int = 15) -> AliasCase:
    """Write the alias set's project into `folder`; see the module docstring."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    n_ent = max(people // 10, 2)
    ents = [
        (f"e{i}", f"e{i}{rnd.choice(TLDS)}", rnd.choice(list(CONVENTIONS))) for i in range(n_ent)
    ]
    given = {g: nicks for g, (_, nicks) in v.NICKNAMES.items()}
    vocabs = {"m": v.first_names("m"), "f": v.first_names("f")}
    lasts = v.last_names()
    # sample names in bulk (rnd.choices with weights is slow one at a time)
    total = int(people * (1 + RATES["b_only"]))
    firsts = rnd.choices(vocabs["m"].names, weights=vocabs["m"].probs, k=total)
    firsts_f = rnd.choices(vocabs["f"].names, weights=vocabs["f"].probs, k=total)
    surnames = rnd.choices(lasts.names, weights=lasts.probs, k=total)
    used: dict[tuple[str, str], int] = {}
    a_rows, b_rows, truth = [], [], []
    for pid in range(total):
        ent, domain, conv = ents[rnd.randrange(n_ent)]
        first = str(firsts[pid] if rnd.random() < 0.5 else firsts_f[pid])
        last = str(surnames[pid])
        local = _local(conv, first, last)
        n = used.get((domain, local), 0)
        used[(domain, local)] = n + 1
        email = f"{local}{n + 1 if n else ''}@{domain}"
        title, phone = rnd.choice(TITLES), _phone(rnd)
        in_a = pid < people
        if in_a:
            a_email = email
            if rnd.random() < RATES["role_inbox_a"]:
                a_email = f"{rnd.choice(ROLE_INBOXES)}@{domain}"
            a_phone = _fmt_phone(phone, rnd) if rnd.random() < RATES["a_phone"] else ""
            a_rows.append([f"a{pid}", ent, first, last, a_email, a_phone, title])
            truth.append((f"a{pid}", f"p{pid}"))
            if rnd.random() >= RATES["dup"]:
                continue
        # crm_b's record of the person: another noise model
        r = rnd.random()
        if not in_a and rnd.random() < RATES["role_inbox_b"]:
            b_email = f"{rnd.choice(ROLE_INBOXES)}@{domain}"
        elif r < RATES["email_alias"]:
            other = rnd.choice([c for c in CONVENTIONS if c != conv])
            b_email = f"{_local(other, first, last)}@{domain}"
        elif r < RATES["email_alias"] + RATES["email_personal"]:
            pat = rnd.choice(("first.last", "firstlast", "flast", "first_last"))
            digits = str(rnd.randint(1, 99)) if rnd.random() < 0.6 else ""
            b_email = f"{_local(pat, first, last)}{digits}@{rnd.choice(PERSONAL)}"
        elif r < RATES["email_alias"] + RATES["email_personal"] + RATES["email_same"]:
            b_email = email.upper() if rnd.random() < 0.3 else email
        else:
            b_email = ""
        bf, bl = first, last
        if bf in given and rnd.random() < RATES["nickname"]:
            nicks = given[bf]
            bf = rnd.choices(list(nicks), weights=list(nicks.values()))[0]
        elif rnd.random() < RATES["initial"]:
            bf = f"{first[0]}."
        if rnd.random() < RATES["typo"]:
            if rnd.random() < 0.5:
                bf = _typo(bf, rnd)
            else:
                bl = _typo(bl, rnd)
        if rnd.random() < RATES["swap"]:
            bf, bl = bl, bf
        if rnd.random() < RATES["upper"]:
            bf, bl = bf.upper(), bl.upper()
        b_phone = "" if rnd.random() < RATES["no_phone"] else _fmt_phone(phone, rnd)
        b_title = title if rnd.random() < 0.7 else ""
        b_rows.append([f"b{pid}", ent, bf, bl, b_email, b_phone, b_title])
        truth.append((f"b{pid}", f"p{pid}"))
    header = ["id", "place", "first", "last", "email", "phone", "title"]
    _write(folder / "entities.csv", ["place_id", "name"], [[e, f"Entity {e}"] for e, _, _ in ents])
    _write(folder / "crm_a.csv", header, a_rows)
    _write(folder / "crm_b.csv", header, b_rows)
    _write(folder / "truth.csv", ["contact_id", "true_id"], [list(t) for t in truth])
    config = folder / "crmpipe.yml"
    config.write_text(PROJECT, encoding="utf-8")
    return AliasCase(config, folder / "truth.csv", total, len(a_rows) + len(b_rows))


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


PROJECT = """\
warehouse: .crmpipe/warehouse.duckdb
sources:
  entities:
    path: entities.csv
    table: entities
    columns: {entity_id: place_id, display_name: name}
  crm_a:
    path: crm_a.csv
    table: contacts
    columns: &cols {contact_id: id, entity_id: place, first_name: first, last_name: last,
      emails: email, phone: phone, title: title}
  crm_b:
    path: crm_b.csv
    table: contacts
    columns: *cols
"""
