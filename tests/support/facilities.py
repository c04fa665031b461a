"""A small facilities project (the childcare-leads shape, /tmp/cc/crmpipe.yml's config): a
Nevada credential list (one-field addresses, a contact, a license) and a Texas operations list
(address parts, capacity) that also lists one Nevada facility (`Desert Kids`: both lists'
rows resolve into one facility), hand-written, built with `crmpipe run`'s pipeline."""

from __future__ import annotations

from pathlib import Path

from crmpipe.config.load import load_config
from crmpipe.config.schema import Config
from crmpipe.pipeline import run

NEVADA = """\
Name,Address,State,County,Phone,Primary Contact Name,Primary Contact Role,Credential Number,Credential Type,Status,Expiration Date,First Issue Date
Little Montessori,"150 N. WILLOW ST MESQUITE, NV 89027",NV,Clark,(702) 555-0101,Tania Pineda,Director,NV-100,Child Care Center,Active,11/30/25,01/15/20
Desert Kids,"22 MAIN ST LAS VEGAS, NV 89101",NV,Clark,702-555-0199,Bob Smith,Owner,NV-101,Family Home,Expired,05/01/23,03/03/18
"""  # noqa: E501

TEXAS = """\
Operation Name,Phone,Email Address,Address,City,State,Zip,County,Operation,Type,Status,Issue Date,Capacity
Sunrise Montessori Academy,(512) 555-0110,info@sunrise.org,1 Oak Ln,Austin,TX,78701,Travis,TX-9,Licensed Center,Active,2019-04-01,120
Tiny Steps,(214) 555-0123,tiny@steps.com,9 Elm St,Dallas,TX,75201,Dallas,TX-10,Listed Home,Active,2021-06-01,12
Montessori of Plano,(972) 555-0144,,5 Pine Rd,Plano,TX,75023,Collin,TX-11,Licensed Center,Inactive,2015-02-01,60
Desert Kids,702-555-0199,,22 Main St,Las Vegas,NV,89101,Clark,TX-12,Listed Home,Active,2016-03-01,
"""  # noqa: E501

CONFIG = """\
sources:
  nevada:
    path: nv_*.csv
    table: entities
    drops: newest
    columns: {display_name: Name, address: Address, state: State, county: County, phone: Phone}
    feeds:
      contacts: {columns: {full_name: Primary Contact Name, title: Primary Contact Role}}
      licenses:
        columns: {license_number: Credential Number, license_type: Credential Type,
                  status: Status, expires_on: Expiration Date, issued_on: First Issue Date}
      addresses: {columns: {address: Address, state: State, county: County}}
  texas:
    path: tx_*.csv
    table: entities
    columns: {display_name: Operation Name, phone: Phone, email: Email Address, address: Address,
              city: City, state: State, postal_code: Zip, county: County}
    feeds:
      licenses: {columns: {license_number: Operation, license_type: Type, status: Status,
                           issued_on: Issue Date, capacity: Capacity}}
      addresses: {columns: {address: Address, city: City, state: State, postal_code: Zip,
                            county: County}}
"""

#: display_name of each facility, by what the tests ask.
MONTESSORI_TX_50 = ["Sunrise Montessori Academy", "Montessori of Plano"]
PHONE_702 = ["Little Montessori", "Desert Kids"]
ACTIVE = ["Little Montessori", "Sunrise Montessori Academy", "Tiny Steps"]


def make_facility_project(folder: Path) -> Config:
    """Write the files and crmpipe.yml into `folder`, build, and return the loaded config."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nv_20241101.csv").write_text(NEVADA, encoding="utf-8")
    (folder / "tx_ops.csv").write_text(TEXAS, encoding="utf-8")
    (folder / "crmpipe.yml").write_text(CONFIG, encoding="utf-8")
    cfg = load_config(folder / "crmpipe.yml")
    run(cfg)
    return cfg
