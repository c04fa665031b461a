"""Vocabulary of the mover-CRM case: the branches (city, state, ZIP prefix, area code), street
names, and the ways a branch's name and state are misspelt in a branches export.

Cities and street names avoid the words an address parser reads as street types, units or
directions (`LAKE`, `PARK`, `NORTH`), so generated addresses keep the common unambiguous shape
the SQL fast path of address parsing takes (crmpipe.clean.address_fast).
"""

from __future__ import annotations

#: (city = the branch's declared name, state code, state name, ZIP prefix, area code).
BRANCHES: tuple[tuple[str, str, str, str, str], ...] = (
    ("Austin", "TX", "Texas", "787", "512"),
    ("Dallas", "TX", "Texas", "752", "214"),
    ("Houston", "TX", "Texas", "770", "713"),
    ("Denver", "CO", "Colorado", "802", "303"),
    ("Phoenix", "AZ", "Arizona", "850", "602"),
    ("Atlanta", "GA", "Georgia", "303", "404"),
    ("Chicago", "IL", "Illinois", "606", "312"),
    ("Seattle", "WA", "Washington", "981", "206"),
    ("Portland", "OR", "Oregon", "972", "503"),
    ("Boston", "MA", "Massachusetts", "021", "617"),
    ("Miami", "FL", "Florida", "331", "305"),
    ("Tampa", "FL", "Florida", "336", "813"),
    ("Orlando", "FL", "Florida", "328", "407"),
    ("Nashville", "TN", "Tennessee", "372", "615"),
    ("Charlotte", "NC", "North Carolina", "282", "704"),
    ("Raleigh", "NC", "North Carolina", "276", "919"),
    ("Columbus", "OH", "Ohio", "432", "614"),
    ("Detroit", "MI", "Michigan", "482", "313"),
    ("Minneapolis", "MN", "Minnesota", "554", "612"),
    ("Kansas City", "MO", "Missouri", "641", "816"),
    ("Omaha", "NE", "Nebraska", "681", "402"),
    ("San Diego", "CA", "California", "921", "619"),
    ("Sacramento", "CA", "California", "958", "916"),
    ("San Jose", "CA", "California", "951", "408"),
    ("Richmond", "VA", "Virginia", "232", "804"),
    ("Baltimore", "MD", "Maryland", "212", "410"),
    ("Pittsburgh", "PA", "Pennsylvania", "152", "412"),
    ("Indianapolis", "IN", "Indiana", "462", "317"),
    ("Louisville", "KY", "Kentucky", "402", "502"),
    ("Memphis", "TN", "Tennessee", "381", "901"),
)

#: Street names (trees, people, places): none is a street type, unit, direction or ordinal.
STREETS: tuple[str, ...] = (
    "Oak",
    "Maple",
    "Cedar",
    "Pine",
    "Elm",
    "Walnut",
    "Willow",
    "Birch",
    "Aspen",
    "Magnolia",
    "Hickory",
    "Juniper",
    "Spruce",
    "Poplar",
    "Sycamore",
    "Chestnut",
    "Cherry",
    "Dogwood",
    "Laurel",
    "Holly",
    "Cypress",
    "Redwood",
    "Alder",
    "Hazel",
    "Linden",
    "Mulberry",
    "Washington",
    "Lincoln",
    "Jefferson",
    "Madison",
    "Monroe",
    "Adams",
    "Jackson",
    "Franklin",
    "Hamilton",
    "Grant",
    "Wilson",
    "Taylor",
    "Harrison",
    "Cleveland",
    "Garfield",
    "Kennedy",
    "Roosevelt",
    "Sherman",
    "Lee",
    "Porter",
    "Webster",
    "Clinton",
    "Highland",
    "Sunset",
    "Bayview",
    "Lakeview",
    "Fairview",
    "Riverside",
    "Brookside",
    "Greenwood",
    "Kingston",
    "Ashford",
    "Belmont",
    "Chatham",
    "Dover",
    "Essex",
    "Hampton",
    "Kendall",
    "Lexington",
    "Marlow",
    "Newport",
    "Oxford",
    "Preston",
    "Quincy",
    "Rutledge",
    "Stratford",
    "Trenton",
    "Vernon",
    "Windsor",
    "Yorktown",
    "Abbott",
    "Bristol",
    "Camden",
    "Dalton",
    "Emerson",
    "Fulton",
    "Glenwood",
    "Hillcrest",
    "Irving",
    "Jasper",
    "Kimball",
    "Landis",
    "Marion",
    "Norwood",
    "Osborne",
    "Palmer",
    "Raleigh",
    "Sheridan",
    "Thornton",
    "Upton",
    "Vance",
    "Whitney",
    "Wakefield",
    "Arlington",
    "Beacon",
    "Colonial",
    "Dorchester",
)

#: Street types as the export writes them: (written, the shorter or longer spelling).
SUFFIXES: tuple[tuple[str, str], ...] = (
    ("St", "Street"),
    ("Ave", "Avenue"),
    ("Dr", "Drive"),
    ("Rd", "Road"),
    ("Ln", "Lane"),
    ("Blvd", "Boulevard"),
    ("Ct", "Court"),
    ("Pl", "Place"),
    ("Way", "Way"),
    ("Cir", "Circle"),
)

#: Job statuses and how often each occurs.
STATUSES: tuple[tuple[str, float], ...] = (
    ("completed", 0.62),
    ("booked", 0.22),
    ("cancelled", 0.10),
    ("quoted", 0.06),
)

#: Email domains of consumers and their rough shares.
DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 0.45),
    ("yahoo.com", 0.17),
    ("hotmail.com", 0.10),
    ("outlook.com", 0.09),
    ("aol.com", 0.06),
    ("icloud.com", 0.08),
    ("comcast.net", 0.05),
)


def branch_name_variants(name: str, state: str) -> tuple[str, ...]:
    """How one branch's name is written across exports: the declared name, case noise, a
    suffix, a typo (a letter dropped), the state appended."""
    typo = name[:3] + name[4:] if len(name) > 4 else name
    return (name, name.upper(), name.lower(), f"{name} Branch", typo, f"{name}, {state}")


def state_variants(code: str, full: str) -> tuple[str, ...]:
    """A state as exports write it: code, name, either in other case, padded."""
    return (code, full, code.lower(), full.upper(), f" {code} ")
