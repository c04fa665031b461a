"""Vocabulary of the childcare-leads case: the four files' headers, facility name parts, cities
with their counties and ZIP ranges, streets, license and credential kinds, hours and ages.

The headers are those of the real sample files (`../shared/data/childcare`), names and order
exactly; the value lists imitate the values seen there (`CHILD CARE FAMILY`, `Licensed
Child-Care Home`, `7:30AM - 5:30PM`, `Infants (0-11 months)`...). People's names come from
Faker's providers through `vocab.py`; street names mix Faker's last names with the tree, place
and numbered streets of the real lists. Plain data only: generation is in childcare_*.py.
"""

from __future__ import annotations

SOURCE1_HEADER: tuple[str, ...] = (
    "Name", "Credential Type", "Credential Number", "Status", "Expiration Date",
    "Disciplinary Action", "Address", "State", "County", "Phone", "First Issue Date",
    "Primary Contact Name", "Primary Contact Role",
)  # fmt: skip
SOURCE2_HEADER: tuple[str, ...] = (
    "Type License", "Company", "Accepts Subsidy", "Year Round", "Daytime Hours", "Star Level",
    "Mon", "Tues", "Wed", "Thurs", "Friday", "Saturday", "Sunday", "Primary Caregiver", "Phone",
    "Email", "Address1", "Address2", "City", "State", "Zip", "Subsidy Contract Number",
    "Total Cap", "Ages Accepted 1", "AA2", "AA3", "AA4", "License Monitoring Since",
    "School Year Only", "Evening Hours",
)  # fmt: skip
SOURCE3_HEADER: tuple[str, ...] = (
    "Operation", "Agency Number", "Operation Name", "Address", "City", "State", "Zip", "County",
    "Phone", "Type", "Status", "Issue Date", "Capacity", "Email Address", "Facility ID",
    "Monitoring Frequency", "Infant", "Toddler", "Preschool", "School",
)  # fmt: skip
LEADS_HEADER: tuple[str, ...] = (
    "id", "is_deleted", "last_name", "first_name", "title", "company", "street", "city", "state",
    "postal_code", "country", "phone", "mobile_phone", "email", "website", "lead_source",
    "status", "is_converted", "created_date", "last_modified_date", "last_activity_date",
    "last_viewed_date", "last_referenced_date", "email_bounced_reason", "email_bounced_date",
    "outreach_stage_c", "current_enrollment_c", "capacity_c", "lead_source_last_updated_c",
    "brightwheel_school_uuid_c",
)  # fmt: skip

#: The three lists' states, in source order (source1 = Nevada, 2 = Oklahoma, 3 = Texas).
SOURCE_STATES: tuple[str, ...] = ("NV", "OK", "TX")

#: Cities per state: (city, county, first ZIP, last ZIP, weight).
CITIES: dict[str, tuple[tuple[str, str, int, int, float], ...]] = {
    "NV": (
        ("LAS VEGAS", "CLARK", 89101, 89183, 0.55), ("HENDERSON", "CLARK", 89002, 89074, 0.14),
        ("NORTH LAS VEGAS", "CLARK", 89030, 89087, 0.09), ("RENO", "WASHOE", 89501, 89523, 0.1),
        ("SPARKS", "WASHOE", 89431, 89441, 0.04), ("CARSON CITY", "CARSON CITY", 89701, 89706,
        0.03), ("ELKO", "ELKO", 89801, 89815, 0.01), ("BOULDER CITY", "CLARK", 89005, 89006,
        0.01), ("MESQUITE", "CLARK", 89027, 89027, 0.01), ("PAHRUMP", "NYE", 89048, 89061, 0.02),
    ),
    "OK": (
        ("OKLAHOMA CITY", "OKLAHOMA", 73102, 73179, 0.34), ("TULSA", "TULSA", 74103, 74137, 0.2),
        ("NORMAN", "CLEVELAND", 73069, 73072, 0.07), ("EDMOND", "OKLAHOMA", 73003, 73034, 0.07),
        ("BROKEN ARROW", "TULSA", 74011, 74014, 0.06), ("YUKON", "CANADIAN", 73099, 73099, 0.03),
        ("OWASSO", "TULSA", 74055, 74055, 0.03), ("LAWTON", "COMANCHE", 73501, 73507, 0.05),
        ("MOORE", "CLEVELAND", 73160, 73170, 0.04), ("BIXBY", "TULSA", 74008, 74008, 0.02),
        ("STILLWATER", "PAYNE", 74074, 74078, 0.04), ("ENID", "GARFIELD", 73701, 73703, 0.05),
    ),
    "TX": (
        ("HOUSTON", "HARRIS", 77002, 77099, 0.26), ("SAN ANTONIO", "BEXAR", 78201, 78264, 0.14),
        ("DALLAS", "DALLAS", 75201, 75254, 0.12), ("AUSTIN", "TRAVIS", 78701, 78759, 0.09),
        ("FORT WORTH", "TARRANT", 76102, 76140, 0.08), ("EL PASO", "EL PASO", 79901, 79938,
        0.06), ("ARLINGTON", "TARRANT", 76001, 76018, 0.04), ("PLANO", "COLLIN", 75023, 75094,
        0.04), ("CORPUS CHRISTI", "NUECES", 78401, 78418, 0.04), ("LUBBOCK", "LUBBOCK", 79401,
        79424, 0.03), ("KILLEEN", "BELL", 76540, 76549, 0.03), ("PEARLAND", "BRAZORIA", 77581,
        77584, 0.03), ("KINGWOOD", "HARRIS", 77339, 77345, 0.02), ("DUNCANVILLE", "DALLAS",
        75137, 75138, 0.02),
    ),
}  # fmt: skip

#: Street words of the real lists (trees, places, people); Faker last names are added to them.
STREET_WORDS: tuple[str, ...] = (
    "WILLOW", "MOHAWK", "PAGE", "GYPSUM", "JUNIPER", "CHEYENNE", "MAIN", "ELM", "OAK", "PINE",
    "CEDAR", "MAPLE", "RAINBOW", "EASTERN", "CHARLESTON", "SAHARA", "DURANGO", "LAKE MEAD",
    "CAMPBELL", "HARBOR ISLAND", "CHURCH", "BROADWAY", "BABCOCK", "STONEHOLLOW", "BEECHNUT",
    "FOREST OAKS", "WILLOW GLEN", "SLIDE", "KIRBY", "VIOLET", "GLOGER", "BURNEY", "ALVIN",
    "SPRUCEDALE", "HILLPOINTE", "WESTCLIFF", "SMOKE RANCH", "COUGAR", "SUGAR CREEK", "HIGHLAND",
    "COLLEGE", "MILL", "COMMERCE", "LINCOLN", "JEFFERSON", "WASHINGTON", "PARK", "LAUREL",
    "MEADOW", "SUNSET", "CANYON", "RIDGE", "VALLEY VIEW", "BLUEBONNET", "MESQUITE", "PECAN",
)  # fmt: skip
#: Street types: (abbreviation, full word).
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("ST", "STREET"), ("AVE", "AVENUE"), ("DR", "DRIVE"), ("RD", "ROAD"), ("BLVD", "BOULEVARD"),
    ("LN", "LANE"), ("CT", "COURT"), ("PKWY", "PARKWAY"), ("CIR", "CIRCLE"), ("PL", "PLACE"),
    ("TER", "TERRACE"), ("TRL", "TRAIL"), ("WAY", "WAY"),
)  # fmt: skip
STREET_TYPE_WEIGHTS: tuple[float, ...] = (
    0.26, 0.17, 0.2, 0.1, 0.06, 0.05, 0.05, 0.02, 0.03, 0.02, 0.01, 0.01, 0.02,
)  # fmt: skip
#: Directions: (letter, full word); index 0 is "no direction".
DIRECTIONS: tuple[tuple[str, str], ...] = (
    ("", ""), ("N", "NORTH"), ("S", "SOUTH"), ("E", "EAST"), ("W", "WEST"), ("NW", "NORTHWEST"),
)  # fmt: skip
DIRECTION_WEIGHTS: tuple[float, ...] = (0.62, 0.1, 0.1, 0.07, 0.08, 0.03)
UNIT_WORDS: tuple[str, ...] = ("STE", "SUITE", "#", "UNIT")

# --------------------------------------------------------------------------------------------
# Facility names (stored in title case; the Nevada and Oklahoma lists write them in capitals)

NAME_PREFIXES: tuple[str, ...] = (
    "Sunshine", "Little", "Bright", "Happy", "Tiny", "Rainbow", "Kiddie", "Precious", "Busy Bee",
    "Creative", "Growing", "Stepping Stones", "ABC", "123", "Building Blocks", "Kinder", "Wee",
    "Lil", "Smart Start", "Tender Care", "First Steps", "Sunrise", "Golden", "Angel", "Noah's Ark",
    "Discovery", "Imagination", "Wonderland", "Blossom", "Cornerstone", "Firefly", "Ladybug",
    "Giggles", "Tots", "Treehouse", "Acorn", "Playful", "Cozy", "Caring Hearts", "Mustard Seed",
)  # fmt: skip
NAME_NOUNS: tuple[str, ...] = (
    "", "", "", "Learners", "Beginnings", "Explorers", "Angels", "Stars", "Sprouts", "Minds",
    "Hearts", "Hands", "Steps", "Treasures", "Cubs", "Ducklings", "Kids", "Scholars", "Seeds",
    "Blessings", "Buddies", "Friends", "Wonders",
)  # fmt: skip
NAME_TYPES: tuple[str, ...] = (
    "Learning Center", "Child Development Center", "Academy", "Daycare", "Child Care",
    "Preschool", "Early Learning Center", "Montessori", "Pre-School", "Day Care",
    "Learning Academy", "Childcare & Learning Center", "Daycare & Preschool",
    "Play & Learn Center", "Christian Academy", "Nursery School",
)  # fmt: skip
#: Legal suffixes; index 0 = none. A variant drops, adds or swaps them.
LEGAL: tuple[str, ...] = ("", " LLC", ", LLC", " Inc", " Inc.", " L.L.C.", " Corp.", ", Inc.")
LEGAL_WEIGHTS: tuple[float, ...] = (0.72, 0.1, 0.07, 0.03, 0.03, 0.02, 0.01, 0.02)
#: Chains: facilities of a chain share the central phone number; the name adds the location.
CHAIN_BRANDS: tuple[str, ...] = (
    "Kids R Kids", "KinderCare Learning Centers", "La Petite Academy", "Primrose School",
    "Children's Lighthouse", "The Goddard School", "The Learning Experience", "Creative Kids",
    "Merryhill Preschool", "YMCA", "Tutor Time", "Childtime", "Kiddie Academy",
    "Children's Learning Adventure", "Foundations Preschool", "Sunrise Children's Foundation",
)  # fmt: skip
#: Accommodations (child care while parents work out or play) name the place and its site.
ACCOMMODATIONS: tuple[str, ...] = (
    "EOS Fitness", "Life Time Athletic", "24 Hour Fitness", "Kids Quest", "Don's Kid Kastle",
    "Club Sport", "The Little Gym",
)  # fmt: skip
CHURCH_NAMES: tuple[str, ...] = (
    "First Baptist Church", "Grace Lutheran", "St. Mark's", "Calvary Chapel", "First UMC",
    "Trinity Episcopal", "Faith Christian", "St. Joseph", "Beautiful Savior Lutheran",
    "Mountain View Lutheran", "Chabad", "Emmanuel",
)  # fmt: skip
CHURCH_TYPES: tuple[str, ...] = (
    "Preschool", "Parents Day Out", "Child Development Center", "Early Education", "Weekday School",
)  # fmt: skip
#: Words a second export writes otherwise: (as generated, variant); both ways are planted.
WORDINGS: tuple[tuple[str, str], ...] = (
    ("Center", "Ctr"),
    ("Child Care", "Childcare"),
    ("Daycare", "Day Care"),
    ("Pre-School", "Preschool"),
    ("Academy", "Acad."),
)

# --------------------------------------------------------------------------------------------
# Kinds, hours, ages, CRM values

#: Facility kinds: family home, group home, center, accommodation (gyms, casinos), permit.
KINDS: tuple[str, ...] = ("family", "group", "center", "accommodation", "permit")
KIND_WEIGHTS: tuple[float, ...] = (0.3, 0.12, 0.53, 0.03, 0.02)
CREDENTIAL_TYPES: tuple[str, ...] = (
    "FAMILY CARE", "GROUP CARE", "CENTER", "ACCOMMODATION", "PERMITS",
)  # fmt: skip
SOURCE1_ROLES: tuple[str, ...] = ("Director", "Owner", "Other", "Person in Charge")
#: Oklahoma's license kind per facility kind (homes are FAMILY, the rest CENTER) and prefix.
OK_LICENSES: tuple[tuple[str, str], ...] = (
    ("CHILD CARE FAMILY", "K82"), ("CHILD CARE FAMILY", "K82"), ("CHILD CARE CENTER", "K83"),
    ("CHILD CARE CENTER", "K83"), ("CHILD CARE CENTER", "K83"),
)  # fmt: skip
TX_TYPES: tuple[str, ...] = (
    "Licensed Child-Care Home", "Licensed Child-Care Home", "Licensed Center - Child Care Program",
    "Licensed Center - Child Care Program", "Licensed Center - Child Care Program",
)  # fmt: skip
OPEN_TIMES: tuple[str, ...] = ("5:30AM", "6:00AM", "6:30AM", "7:00AM", "7:30AM", "8:00AM")
OPEN_WEIGHTS: tuple[float, ...] = (0.04, 0.3, 0.25, 0.25, 0.12, 0.04)
CLOSE_TIMES: tuple[str, ...] = ("5:00PM", "5:15PM", "5:30PM", "6:00PM", "6:30PM", "11:59PM")
CLOSE_WEIGHTS: tuple[float, ...] = (0.15, 0.05, 0.35, 0.35, 0.08, 0.02)
AGES: tuple[str, ...] = (
    "Infants (0-11 months)", "Toddlers (12-23 months; 1yr.)",
    "Preschool (24-48 months; 2-4 yrs.)", "School-age (5 years-older)",
)  # fmt: skip
LEAD_TITLES: tuple[str, ...] = ("", "Director/Principal", "Principal", "Provider", "Owner")
LEAD_TITLE_WEIGHTS: tuple[float, ...] = (0.82, 0.06, 0.04, 0.04, 0.04)
LEAD_SOURCES: tuple[str, ...] = (
    "TAM", "Web", "Proactive Trial", "Marketing Research", "List Purchase", "",
)  # fmt: skip
LEAD_SOURCE_WEIGHTS: tuple[float, ...] = (0.6, 0.2, 0.06, 0.05, 0.04, 0.05)
LEAD_STATUSES: tuple[tuple[str, str], ...] = (
    ("Working", "Working"), ("Assigned", "Added to sequence"), ("Assigned", ""),
    ("Recycled", "Recycled - Using Competitor"), ("Recycled", "Recycled - Neglected"),
    ("Connected", "Connected"), ("Unqualified", "Unqualified - Enterprise"),
)  # fmt: skip
LEAD_STATUS_WEIGHTS: tuple[float, ...] = (0.55, 0.15, 0.05, 0.08, 0.05, 0.08, 0.04)
COUNTRIES: tuple[str, ...] = ("", "US", "United States")
