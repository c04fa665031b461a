"""Two CRMs into one (docs/crm-merge.md): the generator's files and `crmpipe demo crm-merge`."""

from __future__ import annotations

import csv

from crmpipe.demo.datasets.crm_merge import generate
from crmpipe.demo.runner import demo


def test_the_generator_writes_both_exports_in_their_crms_conventions_and_a_truth(tmp_path):
    made = generate(tmp_path, contacts=3000, seed=3)
    hub, sf = made.files
    assert hub.read_text().splitlines()[0] == (
        "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Company Name,"
        "State/Region,Create Date"
    )
    raw = sf.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfId;AccountId;Account.Name;FirstName;LastName;")
    row = raw.decode("utf-8-sig").splitlines()[1].split(";")
    assert row[0].startswith("003") and row[1].startswith("001") and len(row[0]) == 18
    assert row[10].endswith(".000+0000")
    with made.truth_path.open() as f:
        truth = list(csv.DictReader(f))
    assert (
        len(truth) == made.counts["hubspot_contacts.csv"] + made.counts["salesforce_contacts.csv"]
    )
    both = {r["person_id"] for r in truth if r["source"] == "hubspot"} & {
        r["person_id"] for r in truth if r["source"] == "salesforce"
    }
    assert len(both) == made.counts["people_in_both"]
    assert 0.25 < len(both) / made.counts["people"] < 0.35
    assert made.counts["moved"] > 0
    again = generate(tmp_path / "again", contacts=3000, seed=3)
    assert again.files[1].read_bytes() == raw  # same seed, same files


def test_demo_crm_merge_maps_runs_and_scores_against_the_truth(tmp_path):
    result = demo("crm-merge", folder=tmp_path, contacts=3000)
    f = result.crm
    assert f is not None and all(t.balanced for t in result.summary.tables)
    assert f.contact_rows == 3000 or abs(f.contact_rows - 3000) < 60
    assert f.contacts < f.contact_rows and f.companies < f.company_records
    assert f.contacts_score.f1 >= 0.97 and f.companies_score.f1 >= 0.97
    assert f.baseline.recall < f.contacts_score.recall
    assert abs(f.in_both - f.true_in_both) <= f.true_in_both * 0.03
