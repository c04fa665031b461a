"""The public-sector ("pursuit") demo case: entities, techstacks, CRM mappings, messy contacts.

`generate()` writes the source files of the main demo case into a folder, with its
`crmpipe.yml` and a ground truth: entities (`pursuit_entities`), techstacks and mappings
(`pursuit_links`), contacts (`pursuit_contacts`, rendered line by line by `pursuit_lines`) and
the planted duplicates (`duplicates`). With the real sample (`<shared>/pursuit/`) the first
entities, techstack rows and mapping rows are the real ones and the rest imitate them; without
it everything is synthetic in the same shape.

Files: `entities.csv` (the real places.csv header, CRLF), `techstacks.csv` (values quoted like
the real file), `crma.csv` / `crmb.csv` (UTF-8 BOM, CRLF, like the real ones), `contacts_1.csv`
(80% of the contacts) and `contacts_2.csv` (the rest, plus re-exports of 0.5% of file 1's
contacts with a new title; a day newer), `truth.csv` and `crmpipe.yml`. Contact files are sorted
by contact_id.

`truth.csv` has one row per contact_id, sorted: the values a correct pipeline ends with.
- entity_id; first_name, last_name, title, department in their canonical spelling (the case
  and whitespace noise removed; compare case-insensitively);
- emails: the valid addresses of the field, lower-cased, `;`-joined, duplicates dropped, in
  order of first occurrence (valid = `local@domain.tld`; the planted invalid ones are
  `a@@b.gov`, `a at b.gov`, `a@b` and `a@`);
- phone in E.164 (`+12125550142`) and phone_ext (digits); created_at as ISO
  `YYYY-MM-DDTHH:MM:SS` (date-only layouts mean midnight, epoch seconds are UTC);
- source_file: the file whose version wins (the later one); rejected: `true` when that line is
  malformed (the contact is then not expected in the database; updated contacts are never
  on a malformed line).
Empty means null (the null tokens `N/A`, `null`, `-`, `none`, ... of optional columns).

Everything is drawn with numpy from one seed and rendered in DuckDB (see `mess.py`), so 4.5M
contacts take seconds and the same seed gives byte-identical files (and file times).
"""

from __future__ import annotations

import os
import types
from pathlib import Path

import numpy as np

from crmpipe.demo.datasets import GeneratedCase, shared_data_dir
from crmpipe.demo.datasets import duplicates as dup
from crmpipe.demo.datasets.pursuit_contacts import write_contacts
from crmpipe.demo.datasets.pursuit_entities import (
    build_entities,
    load_real,
    state_index,
    write_entities,
)
from crmpipe.demo.datasets.pursuit_lines import CONTACT_FILES
from crmpipe.demo.datasets.pursuit_links import write_mappings, write_techstacks

#: The project file written with the data (its format is owned by crmpipe.config).
CONFIG_YML = """\
# crmpipe project file for the public-sector demo (written by `crmpipe demo pursuit`)
warehouse: .crmpipe/warehouse.duckdb
region: US
sources:
  entities:
    path: entities.csv
    table: entities
    columns: {entity_id: place_id, display_name: display_name, state: state_abbr, lat: lat, \
long: long, url: url, address: address, parent_id: parent_id}
    extra: {pop_estimate_2022: bigint, place_fips: text, sum_lev: text, lsadc: text}
  techstacks:
    path: techstacks.csv
    table: techstacks
    columns: {entity_id: place_id, name: name, type: type}
  customer_a:
    path: crma.csv
    table: external_ids
    constants: {customer: a, system: salesforce}
    columns: {external_id: sfdc_id, entity_id: place_id}
  customer_b:
    path: crmb.csv
    table: external_ids
    constants: {customer: b, system: hubspot}
    columns: {external_id: hubspot_id, entity_id: place_id}
  contacts:
    path: contacts_*.csv
    table: contacts
    columns: {contact_id: contact_id, entity_id: place_id, first_name: first_name, \
last_name: last_name, emails: email, phone: phone, title: title, department: department, \
created_at: created_at}
search:
  aliases: {pop: pop_estimate_2022, tech: tech_names, email: emails, created: created_at, \
sfdc_id: salesforce_ids, hubspot_id: hubspot_ids}
  shorthands: {filter: "email:{1} tech:{2} pop{3}"}
# Data quality (docs/quality.md): checks beyond the model's defaults, and the SLAs of the case.
checks:
  entities:
    columns:
      pop_estimate_2022: [{range: {min: 0, severity: warn}}]
  contacts:
    table:
      - row_count: {min: 1, max_change: 50, severity: warn}
slas:
  - {metric: completeness, table: contacts, column: emails, target: 90}
  - {metric: completeness, table: contacts, column: phone, target: 90}
  - {metric: validity, table: contacts, column: emails, target: 95}
  - {metric: validity, table: contacts, column: phone, target: 99}
  - {metric: consistency, table: entities, column: state}
  - {metric: completeness, table: entities, column: address, target: 80, severity: warn}
  - {metric: duplicate_rate, table: contacts, target: 1}
  # the generator's dates end at a fixed day, so the demo allows three years
  - {metric: freshness, table: contacts, column: created_at, target: 1095, severity: warn}
"""

#: File times (UTC epoch seconds): every file at the base time, the second contacts export a
#: day later, so "the later file wins" holds by mtime as well as by name.
MTIME_BASE = 1_717_200_000  # 2024-06-01T00:00:00Z
#: The planted duplicates come from an older export of another CRM: a day earlier.
MTIMES = {"contacts_2.csv": MTIME_BASE + 86_400, "contacts_3.csv": MTIME_BASE - 86_400}
#: Share of contacts planted again, varied, in contacts_3.csv (datasets/duplicates.py).
DUPLICATE_RATE = 0.05


def generate(
    folder: Path,
    *,
    contacts: int = 100_000,
    entities: int | None = None,
    seed: int = 0,
    duplicates: float = DUPLICATE_RATE,
    shared: Path | None | types.EllipsisType = ...,
) -> GeneratedCase:
    """Write the pursuit case into `folder` and return what was written.

    `entities` defaults to max(1000, contacts // 30). `shared` is the real sample folder (the
    one holding `pursuit/`, or `pursuit/` itself); by default `shared_data_dir()` (synthetic
    when that finds nothing); None means fully synthetic entities, techstacks and mappings; an
    explicit folder without the sample is a FileNotFoundError.

    `counts` holds the data rows per file name and: `contacts`, `contact_rows`,
    `updated_contacts`, `real_entities`, `malformed_lines` (and `malformed_too_many_fields`,
    `malformed_too_few_fields`, `malformed_invalid_utf8`), `rejected_contacts`, and the planted
    mess per written contact row (`invalid_emails`, `multi_email_fields`,
    `duplicate_email_fields`, `email_case_noise`, `null_tokens` and per column
    `*_null_tokens`, `name_case_noise`, `name_whitespace_noise`, `title_case_noise`,
    `title_whitespace_noise`, `phone_nonstandard_formats`, `phone_extensions`,
    `created_nonstandard_formats`) and in the entity file (`entity_state_*`,
    `entity_pop_thousands_separators`, `entity_pop_null_tokens`).
    """
    if contacts < 0:
        raise ValueError("contacts must be >= 0")
    if not 0 <= duplicates < 1:
        raise ValueError("duplicates must be a rate in [0, 1)")
    n_entities = max(1000, contacts // 30) if entities is None else entities
    if n_entities < 1:
        raise ValueError("entities must be >= 1")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    real = load_real(shared_data_dir() if shared is ... else shared, explicit=shared is not ...)

    ss = np.random.SeedSequence(seed)
    rng_ent, rng_tech, rng_map, rng_con, rng_mess = (np.random.default_rng(s) for s in ss.spawn(5))
    rng_dup = np.random.default_rng(ss.spawn(1)[0])
    counts: dict[str, int] = {}

    ents = build_entities(rng_ent, n_entities, real)
    state_idx = state_index(ents.state_text)
    counts.update(write_entities(folder / "entities.csv", ents, state_idx, rng_ent))
    counts["real_entities"] = min(len(real.places), n_entities) if real else 0
    counts["techstacks.csv"] = write_techstacks(folder / "techstacks.csv", ents, real, rng_tech)
    counts.update(write_mappings(folder, ents, real, rng_map))
    contact_counts, kept = write_contacts(folder, ents, state_idx, contacts, rng_con, rng_mess)
    counts.update(contact_counts)
    counts.update(
        dup.write_duplicates(
            folder,
            kept,
            rate=duplicates,
            rng=rng_dup,
            id_width=max(7, len(str(contacts))),
        )
    )

    config_path = folder / "crmpipe.yml"
    config_path.write_text(CONFIG_YML, encoding="utf-8")
    dup_files = (dup.DUPLICATES_FILE,) if counts["planted_duplicates"] else ()
    files = [
        folder / n
        for n in (
            "entities.csv",
            "techstacks.csv",
            "crma.csv",
            "crmb.csv",
            *CONTACT_FILES,
            *dup_files,
        )
    ]
    for path in [*files, folder / "truth.csv", folder / dup.TRUTH_FILE, config_path]:
        t = MTIMES.get(path.name, MTIME_BASE)
        os.utime(path, (t, t))
    return GeneratedCase(folder, config_path, folder / "truth.csv", files, counts)
