"""CRM contact exports for `crmpipe init`: which CRM's header convention a contacts file
follows, and its inline company as an entity fed from the contact row (docs/crm-merge.md).

HubSpot exports display names (`Record ID`, `Company Name`, `State/Region`); Salesforce's Data
Loader the API names (`Id`, `AccountId`, `Account.Name`, `MailingState`) and its reports the
labels (`Contact ID`, `Account ID`, `Account Name`); Pipedrive's person export `Person - Name`,
`Organization - Name` or plain `Organization`. The company becomes `entities`, fed from the
same row: its key is the source's account id where the file has one (`AccountId`), else the
normalised name within the source (the `company_keys` processor, crmpipe.clean.companies), and
the contact's `entity_id` is the same key. A mobile phone column next to the desk phone is
kept as the contact's second phone (`mobile_phone`), compared with the first as a set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crmpipe.clean.companies import COMPANY_HEADERS, KEY_COLUMN
from crmpipe.init.feeds import Feeds
from crmpipe.init.scoring import Assignment, Match

#: Each CRM's contact-export headers (lower case) that say "this file is from that CRM".
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "HubSpot": (
        "record id", "company name", "state/region", "create date", "phone number",
        "job title", "contact owner", "lifecycle stage", "associated company",
        "mobile phone number", "last activity date",
    ),
    "Salesforce (API names)": (
        "id", "accountid", "account.name", "firstname", "lastname", "mailingstate",
        "createddate", "mobilephone", "ownerid", "mailingcity", "mailingpostalcode",
    ),
    "Salesforce (report)": (
        "contact id", "account id", "account name", "mailing state/province", "mobile",
        "contact owner", "created date", "mailing city", "mailing zip/postal code",
    ),
    "Pipedrive": (
        "person - name", "person - organization", "person - email", "person - phone",
        "organization - name", "person - id", "organization - id", "organization",
        "person - first name", "person - last name",
    ),
}  # fmt: skip
#: The system name a convention's record ids belong to (external ids, docs/crm-merge.md).
SYSTEMS = {
    "HubSpot": "hubspot", "Salesforce (API names)": "salesforce",
    "Salesforce (report)": "salesforce", "Pipedrive": "pipedrive",
}  # fmt: skip
#: Headers of the company's id in the source (the entity's key there).
ACCOUNT_ID_HEADERS = (
    "AccountId", "Account ID", "Account.Id", "Organization - ID", "Associated Company ID",
    "Company ID", "Organization ID",
)  # fmt: skip
#: Headers of the contact's state (the company's state evidence).
STATE_HEADERS = (
    "MailingState",
    "State/Region",
    "Mailing State/Province",
    "State",
    "Person - State",
)
#: Headers of a mobile number kept beside the desk phone.
MOBILE_HEADERS = ("MobilePhone", "Mobile Phone Number", "Mobile", "Person - Phone - Mobile")
#: At least this many of a convention's headers recognise it.
MIN_HEADERS = 3
#: The processor that makes a company key from the name.
PROCESSOR = "crmpipe.clean.companies:company_keys"


@dataclass
class CrmCompany:
    """A contacts export's CRM and company: what init adds to its source."""

    convention: str | None
    system: str | None
    name: str  # the company-name header
    account_id: str | None
    state: str | None
    mobile: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The header the entity key (and the contact's entity_id) is read from."""
        return self.account_id or KEY_COLUMN

    @property
    def processor(self) -> str | None:
        return None if self.account_id else PROCESSOR

    def indices(self, headers: list[str]) -> set[int]:
        """The header indices the company (and the mobile phone) take."""
        taken = (self.name, self.account_id, self.state, self.mobile)
        return {i for i, h in enumerate(headers) if h in taken}


def _find(headers: list[str], wanted: tuple[str, ...]) -> str | None:
    norm = {h.strip().lower(): h for h in headers}
    return next((norm[w.lower()] for w in wanted if w.lower() in norm), None)


def convention(headers: list[str]) -> str | None:
    """The CRM whose contact-export headers these are (the most of its headers present)."""
    norm = {h.strip().lower() for h in headers}
    hits = {name: len(norm & set(signs)) for name, signs in CONVENTIONS.items()}
    best = max(hits, key=lambda n: hits[n])
    return best if hits[best] >= MIN_HEADERS else None


def crm_company(headers: list[str]) -> CrmCompany | None:
    """The company a contacts export names inline, or None when it names none."""
    name = _find(headers, COMPANY_HEADERS)
    if name is None:
        return None
    conv = convention(headers)
    crm = CrmCompany(
        convention=conv,
        system=SYSTEMS.get(conv or ""),
        name=name,
        account_id=_find(headers, ACCOUNT_ID_HEADERS),
        state=_find(headers, STATE_HEADERS),
        mobile=_find(headers, MOBILE_HEADERS),
    )
    crm.notes.append(
        f"recognised a {conv} contact export" if conv else "no known CRM's header convention"
    )
    how = (
        f"keyed by {crm.account_id!r}"
        if crm.account_id
        else f"keyed by its normalised name within the source ({PROCESSOR} adds {KEY_COLUMN!r})"
    )
    crm.notes.append(f"{name!r} is the contact's company: it feeds entities, {how}")
    return crm


def entity_feed(crm: CrmCompany) -> dict[str, str]:
    """The `feeds.entities.columns` of the export: key, name and state."""
    cols = {"entity_id": crm.key, "display_name": crm.name}
    if crm.state:
        cols["state"] = crm.state
    return cols


def apply_crm(
    crm: CrmCompany, headers: list[str], chosen: Assignment, feeds: Feeds
) -> dict[str, Match]:
    """Map the company onto `feeds.entities` and the contact's `entity_id` (taking those
    headers from the contact's own guesses); return the entity feed's matches."""
    taken = crm.indices(headers)
    for col, m in list(chosen.matches.items()):
        if m.index in taken or col == "entity_id":
            del chosen.matches[col]
    index = {h: i for i, h in enumerate(headers)}
    why = "the CRM's company of the contact"
    cols = {c: Match(h, index.get(h, -1), c, 1.0, "name", why) for c, h in entity_feed(crm).items()}
    chosen.matches["entity_id"] = cols["entity_id"]
    feeds.tables["entities"] = cols
    return cols


def crm_ids(
    crm: CrmCompany,
    extra: dict[str, str],
    feed_extra: dict[str, dict[str, str]],
    contact_id: Match | None,
) -> None:
    """The CRM's record ids as `<system>_ids` columns of type id (external ids: never
    compared, searchable as `salesforce_ids:003…`): the contact's id on the contact, the
    account id on the company."""
    if crm.system is None:
        return
    name = f"{crm.system}_ids"
    if contact_id is not None:
        extra[contact_id.header] = f"{name}: id"
    if crm.account_id:
        feed_extra["entities"] = {name: crm.account_id}
