"""What headers are called: the names and keywords of each canonical column, for `crmpipe init`.

Header names are compared after `normalize` (lower case, `_` between words); a synonym is a
strong hint, a keyword among a header's words a weaker one (crmpipe.init.mapping scores them).
"""

from __future__ import annotations

import re


def normalize(header: str) -> str:
    """`Pop Estimate 2022` → `pop_estimate_2022`: lower-case, non-alphanumerics → one `_`."""
    return re.sub(r"[^0-9a-z]+", "_", header.strip().lower()).strip("_")


def unique_name(text: str, fallback: str, digit_prefix: str, taken: set[str]) -> str:
    """`text` normalized into a name not in `taken` (then added to it): `fallback` when nothing
    is left, `digit_prefix` before a leading digit, `_2`, `_3`, ... after a name already taken."""
    name = normalize(text) or fallback
    if name[0].isdigit():
        name = f"{digit_prefix}{name}"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def match_forms(header: str) -> list[str]:
    """Forms of a header compared against synonyms: normalized, and with camelCase split."""
    plain = normalize(header)
    camel = normalize(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", header.strip()))
    return [plain] if camel == plain else [plain, camel]


_EMAIL_NAMES = [
    "emails", "email", "e_mail", "email_address", "e_mail_address", "work_email", "contact_email",
    "primary_email", "business_email", "email_addresses", "mail", "email_1", "email1",
]  # fmt: skip
_PHONE_NAMES = [
    "phone", "phone_number", "telephone", "tel", "mobile", "cell", "work_phone", "phone_no",
    "telephone_number", "mobile_phone", "cell_phone", "business_phone", "office_phone",
    "main_phone", "contact_phone", "primary_phone", "phone_1", "phone1", "mobile_number",
]  # fmt: skip
_ENTITY_ID_NAMES = [
    "place_id", "entity_id", "account_id", "facility_id", "operation_id", "company_id",
    "organization_id", "organisation_id", "org_id", "agency_id", "business_id", "location_id",
]  # fmt: skip

#: Header names (normalized) for each canonical column, best first, shared by every table.
SYNONYMS: dict[str, list[str]] = {
    "entity_id": _ENTITY_ID_NAMES,
    "phone": _PHONE_NAMES,
    "first_name": ["first_name", "first", "fname", "given_name", "firstname", "forename"],
    "last_name": ["last_name", "surname", "lname", "family_name", "lastname", "last"],
    "full_name": [
        "full_name", "name", "contact_name", "primary_contact_name", "fullname", "contact",
        "person_name", "person", "primary_contact", "contact_full_name", "display_name",
        "primary_caregiver", "caregiver", "caregiver_name", "primary_contact_person",
        "director_name", "director", "administrator", "administrator_name",
    ],
    "title": [
        "title", "job_title", "position", "role", "primary_contact_role", "jobtitle",
        "designation", "job_role", "contact_title", "job_position",
    ],
    "department": ["department", "dept", "division", "department_name", "team"],
    "url": [
        "url", "website", "web_site", "homepage", "home_page", "web", "website_url", "site",
        "web_address", "link", "domain",
    ],
    "created_at": [
        "created_at", "created", "create_date", "date_added", "created_date", "creation_date",
        "date_created", "added", "added_at", "created_on", "signup_date", "registration_date",
        "add_time", "create_time",
    ],
    "address": [
        "address", "street", "address1", "street_address", "address_1", "address_line_1",
        "address_line1", "addr", "street1", "street_1", "mailing_address", "physical_address",
        "location_address", "full_address", "site_address", "facility_address",
    ],
    "address2": [
        "address2", "address_2", "address_line_2", "address_line2", "street2", "street_2",
        "suite", "apt", "address_two",
    ],
    "city": ["city", "town", "municipality", "locality", "city_name"],
    "county": ["county", "county_name", "parish", "borough"],
    "state": [
        "state", "state_abbr", "st", "province", "state_code", "state_province",
        "state_name", "state_abbreviation", "region_code",
    ],
    "postal_code": [
        "postal_code", "zip", "zip_code", "postcode", "zipcode", "zip5", "postal", "post_code",
    ],
    "lat": ["lat", "latitude"],
    # schedules: a facility's hours per weekday.
    "monday": ["monday", "mon", "monday_hours", "mon_hours", "hours_monday"],
    "tuesday": ["tuesday", "tues", "tue", "tuesday_hours", "tue_hours", "hours_tuesday"],
    "wednesday": ["wednesday", "wed", "wednesday_hours", "wed_hours", "hours_wednesday"],
    "thursday": [
        "thursday", "thurs", "thu", "thur", "thursday_hours", "thu_hours", "hours_thursday",
    ],
    "friday": ["friday", "fri", "friday_hours", "fri_hours", "hours_friday"],
    "saturday": ["saturday", "sat", "saturday_hours", "sat_hours", "hours_saturday"],
    "sunday": ["sunday", "sun", "sunday_hours", "sun_hours", "hours_sunday"],
    "long": ["long", "lng", "lon", "longitude"],
    "parent_id": [
        "parent_id", "parent", "parent_place_id", "parent_entity_id", "parent_account_id",
    ],
    "owner": ["owner", "owner_name", "account_owner", "sales_rep", "rep"],
    "customer": ["customer", "customer_name", "client"],
    "system": ["system", "crm", "source_system", "crm_system", "crm_name"],
    "external_id": [
        "external_id", "sfdc_id", "salesforce_id", "hubspot_id", "crm_id", "record_id",
        "pipedrive_id", "zoho_id", "dynamics_id", "netsuite_id", "source_id", "customer_id",
        "external_key",
    ],
}  # fmt: skip

#: Synonyms that depend on the table (`name` is a place's name, a person's, or a product's).
TABLE_SYNONYMS: dict[tuple[str, str], list[str]] = {
    ("entities", "entity_id"): [*_ENTITY_ID_NAMES, "id"],
    ("entities", "display_name"): [
        "display_name", "name", "facility_name", "operation_name", "organization", "company",
        "account_name", "place_name", "organization_name", "organisation", "organisation_name",
        "company_name", "business_name", "org_name", "account", "entity_name", "agency",
        "agency_name", "institution", "legal_name", "provider_name", "program_name",
        "operation_caregiver_name", "facility", "center_name", "school_name", "provider",
        "child_care_name", "program", "dba", "doing_business_as",
    ],
    ("entities", "entity_type"): [
        "entity_type", "type", "facility_type", "operation_type", "org_type",
        "organization_type", "place_type", "account_type", "business_type", "provider_type",
    ],
    ("entities", "email"): _EMAIL_NAMES,
    ("contacts", "emails"): _EMAIL_NAMES,
    ("contacts", "contact_id"): [
        "contact_id", "id", "person_id", "lead_id", "record_id", "people_id", "contactid",
    ],
    # licenses: what a facility list says of its license or credential.
    ("licenses", "license_number"): [
        "license_number", "license_no", "license_num", "license_nbr", "license", "licence_number",
        "credential_number", "credential_no", "credential", "operation", "operation_number",
        "operation_no", "operation_num", "permit_number", "permit_no", "certificate_number",
        "certification_number", "provider_number", "license_id", "credential_id",
    ],
    ("licenses", "license_type"): [
        "license_type", "type_license", "licence_type", "credential_type", "type_of_license",
        "license_category", "permit_type", "certificate_type", "type_credential",
    ],
    ("licenses", "status"): [
        "status", "license_status", "credential_status", "permit_status", "operation_status",
        "licensing_status",
    ],
    ("licenses", "issued_on"): [
        "issued_on", "issue_date", "first_issue_date", "issued", "issued_date", "date_issued",
        "license_issue_date", "license_issued", "original_issue_date", "license_date",
        "licensed_since", "license_monitoring_since", "monitoring_since", "effective_date",
        "license_effective_date",
    ],
    ("licenses", "renewed_on"): [
        "renewed_on", "renewal_date", "renewed", "renewed_date", "last_renewal_date",
        "license_renewed", "license_renewal_date",
    ],
    ("licenses", "expires_on"): [
        "expires_on", "expiration_date", "expiry_date", "expiration", "expires", "exp_date",
        "expire_date", "expiry", "license_expiration_date", "license_expiration",
        "certificate_expiration_date", "license_expires",
    ],
    ("licenses", "capacity"): [
        "capacity", "total_cap", "total_capacity", "licensed_capacity", "max_capacity",
        "cap", "licensed_cap", "capacity_total",
    ],
    ("techstacks", "name"): [
        "name", "tech", "technology", "tech_name", "technology_name", "product", "product_name",
        "software", "vendor", "tool", "platform", "tech_names",
    ],
    # The sales-funnel tables (a Pipedrive export): ids are often just `id`.
    ("users", "user_id"): ["user_id", "id", "owner_id"],
    ("users", "name"): ["name", "full_name", "user_name"],
    ("users", "modified"): ["modified", "modified_at", "updated_at", "update_time"],
    ("stages", "stage_id"): ["stage_id", "id"],
    ("stages", "stage_name"): ["stage_name", "name", "label"],
    ("activity_types", "activity_type_id"): ["activity_type_id", "id", "type_id"],
    ("activity_types", "active"): ["active", "is_active", "active_flag"],
    ("fields", "field_id"): ["field_id", "id"],
    ("fields", "field_key"): ["field_key", "key"],
    ("fields", "value_options"): ["value_options", "field_value_options", "options"],
    ("deals", "deal_id"): ["deal_id", "id"],
    ("deals", "owner_id"): ["owner_id", "user_id", "owner"],
    ("deals", "created_at"): ["created_at", "add_time", "created", "create_date"],
    ("deals", "stage_changed_at"): ["stage_changed_at", "stage_change_time"],
    ("deals", "lost_at"): ["lost_at", "lost_time"],
    ("deals", "updated_at"): ["updated_at", "update_time", "modified"],
    ("deal_changes", "changed_field_key"): ["changed_field_key", "field_key"],
    ("activities", "activity_id"): ["activity_id", "id"],
    ("activities", "user_id"): ["user_id", "assigned_to_user", "owner_id", "assigned_to"],
    ("activities", "due_to"): ["due_to", "due_date", "due_time", "due"],
    ("techstacks", "type"): [
        "type", "category", "tech_type", "technology_type", "kind", "product_type",
        "software_type", "tech_category",
    ],
}  # fmt: skip

#: Keywords that, appearing among a header's words, suggest a column (weaker than a synonym).
KEYWORDS: dict[str, tuple[frozenset[str], ...]] = {
    "emails": (frozenset({"email"}), frozenset({"e", "mail"})),
    "email": (frozenset({"email"}), frozenset({"e", "mail"})),
    "phone": tuple(frozenset({w}) for w in ("phone", "telephone", "tel", "mobile", "cell")),
    "postal_code": (frozenset({"zip"}), frozenset({"zipcode"}), frozenset({"postal"})),
    "url": (frozenset({"website"}), frozenset({"url"}), frozenset({"homepage"})),
    "address": (frozenset({"address"}), frozenset({"street"})),
    "city": (frozenset({"city"}),),
    "county": (frozenset({"county"}),),
    "state": (frozenset({"state"}),),
    "first_name": (frozenset({"first", "name"}),),
    "last_name": (frozenset({"last", "name"}),),
    "title": (frozenset({"title"}),),
    "created_at": (frozenset({"created"}), frozenset({"added"})),
    "display_name": tuple(
        frozenset({w, "name"})
        for w in (
            "company",
            "facility",
            "operation",
            "organization",
            "business",
            "account",
            "agency",
            "place",
            "entity",
            "provider",
            "program",
            "school",
        )
    ),  # fmt: skip
    "full_name": tuple(
        frozenset({w, "name"}) for w in ("contact", "person", "owner", "director", "caregiver")
    ),
}

#: CRM names found in a mapping file's id header → the `system` constant.
SYSTEMS: dict[str, str] = {
    "sfdc": "salesforce", "salesforce": "salesforce", "sf": "salesforce",
    "hubspot": "hubspot", "hs": "hubspot", "pipedrive": "pipedrive", "zoho": "zoho",
    "dynamics": "dynamics", "msd": "dynamics", "netsuite": "netsuite", "marketo": "marketo",
    "freshsales": "freshsales", "copper": "copper", "insightly": "insightly",
}  # fmt: skip

#: Words in a header that mark whole numbers as codes (leading zeros matter), not quantities.
CODE_WORDS = frozenset({
    "id", "ids", "code", "codes", "fips", "geoid", "lsad", "lsadc", "sumlev", "lev", "zip",
    "zipcode", "number", "num", "no", "nbr", "phone", "fax", "ssn", "ein", "npi", "naics", "sic",
    "ansi", "gnis", "key", "sku", "isbn", "account",
})  # fmt: skip

#: Words that rule a date column out as `created_at` (when it's guessed from values).
NOT_CREATED = frozenset({
    "expiration", "expires", "expiry", "expire", "exp", "end", "due", "birth", "dob", "birthday",
    "modified", "updated", "update", "last", "renewal", "renew", "close", "closed", "closing",
    "deleted", "until", "to", "changed", "change",
})  # fmt: skip
CREATED_HINTS = frozenset({"created", "added", "since", "first", "start", "issue", "issued",
                           "registered", "opened", "open", "signup", "joined", "date"})  # fmt: skip


def synonyms(table: str, column: str) -> list[str]:
    """The header names (normalized, best first) that mean `column` of `table`."""
    specific = TABLE_SYNONYMS.get((table, column))
    if specific is not None:
        return specific
    if column in ("emails", "email"):
        return _EMAIL_NAMES
    return SYNONYMS.get(column, [column])


def system_of(header: str, stem: str) -> str:
    """The CRM a mapping file's id header names (`sfdc_id` → salesforce), else the file stem."""
    for word in normalize(header).split("_"):
        if word in SYSTEMS:
            return SYSTEMS[word]
    return normalize(stem) or stem
