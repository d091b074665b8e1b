"""Columns whose values identify someone: what `hazy schema infer` must never type as a category.

A `category` column's kept values are copied into the model and come back verbatim in generated rows, so a
column of case numbers, names, e-mail addresses, phone numbers, street addresses or free text must not be
one. `identifying_column` looks at a column `schema_infer` would otherwise model from its values and says
what it is instead, by these rules (the first that fits):

1. e-mail: the name says so (`email`, `e_mail`, `mail_address`, ...) or at least `PATTERN_SHARE` of the
   sampled values look like e-mail addresses -> `person` (part `email`).
2. phone: the name says so (`phone`, `fax`, `mobile`, `telephone`, `extension`, ...) or at least
   `PATTERN_SHARE` of the values look like phone numbers ("+" or "(" with 7+ digits) -> left out (no
   generator for phone numbers).
3. a person's name: a name ending in `name` whose prefix is a person's (`first`, `last`, `contact`, `ship`,
   `customer`, ...) -> `person` (first_name / last_name / full_name); an organisation's name (`company`,
   `supplier`, `business`, ...) -> left out (it identifies a business).
4. an address part, by a name ending in it (`ShipAddress`, `billing_city`, `HomePostalCode`): address or
   street -> `location` street; city or town -> city; postcode, postal_code, zip -> postcode; country ->
   country. At least `PATTERN_SHARE` of the values looking like street addresses (a number and a street
   word) -> street.
5. an identifier named so (`customer_id`, `CaseRef`) that is not the table's key (its values repeat, or the
   table has its key already) and holds text -> left out (foreign keys are not inferred from files).
6. links and file paths (`http://...`, `photos/davolio.bmp`) in at least `PATTERN_SHARE` of the values ->
   left out (they often name people); free text, on average at least `FREE_TEXT_CHARS` characters and
   `FREE_TEXT_WORDS` words -> left out.
7. (nearly) all distinct: at least `DISTINCT_SHARE` of the values are distinct -> `id` when it may be the
   table's key (complete, unique, the first one), else left out.

`DISTINCT_SHARE` applies to text only: numbers and dates are binned, so their exact values are not copied.

A country or a city is not an identifier when many rows share it: `coarse_location` says when such a column
is better modelled as a `category` (its mix kept) than drawn by Faker (its mix lost). A `country` or `city`
location column is a category when its at most `DEFAULT_MAX_CAT` (the configurator's `max_cat`) most
frequent values that are each held by at least `MIN_CATEGORY_COUNT` rows (the values a category domain
without `processing_epsilon` keeps) cover at least `COARSE_LOCATION_SHARE` of its non-null rows: few values,
each shared by many rows (Northwind's `Orders.ShipCountry`: 21 countries in 830 orders, the rarest held by
6; `Orders.ShipCity`: 97% of the orders in cities of 5+ orders). Near-unique ones stay `location`
(`Customers.City`: 59 of 69 cities held by one customer). Streets and postcodes always stay `location`: an
address names a household however many rows repeat it (`Orders.ShipAddress` repeats each customer's).
"""

from __future__ import annotations

import re
from typing import Optional, Union

import pandas as pd

from .config.enums import LocationPart, PersonPart
from .config.model_parameters import ProcessingParams
from .config.schema import LocationColumn, PersonColumn
from .core.domains import MIN_CATEGORY_COUNT

PATTERN_SHARE = 0.9
"""Share of the sampled values that must match an e-mail, phone or street pattern for the values alone to
type a column."""
DISTINCT_SHARE = 0.9
"""A text column whose distinct values are at least this share of its non-null values is an identifier."""
FREE_TEXT_CHARS, FREE_TEXT_WORDS = 40, 6
"""Mean characters and mean words per value from which text is free text (notes, descriptions)."""
COARSE_LOCATION_SHARE = 0.9
"""Share of a country or city column's non-null rows that its frequent values must cover for the column to be
a category (at most a tenth of the rows then decode to the other-bucket)."""
COARSE_LOCATION_PARTS = (LocationPart.COUNTRY, LocationPart.CITY)
DEFAULT_MAX_CAT = ProcessingParams.model_fields["max_cat"].default

_SEPARATORS = re.compile(r"[\s_\-.]+")
_LINK = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)\S+|\S*[/\\]\S+\.\w{1,5}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?=(?:\D*\d){7})[+(]?[\d\s().\-/x+]+")
_STREET = re.compile(
    r"(?i)(?=.*\d)(?=.*\b(?:street|st|road|rd|avenue|ave|av|boulevard|blvd|lane|ln|way|drive|dr|court|ct|"
    r"place|pl|square|sq|rue|calle|via|straße|strasse|str|weg|plaza|rua|avda|travessa|highway|hwy)\b).+"
)
EMAIL_NAMES = ("email", "emailaddress", "mail", "mailaddress")
PHONE_SUFFIXES = ("phone", "fax", "mobile", "telephone", "cellphone", "extension", "phoneno", "phonenumber")
PHONE_NAMES = ("tel", "ext", "cell")
PERSON_PREFIXES = {
    "first": PersonPart.FIRST_NAME,
    "given": PersonPart.FIRST_NAME,
    "fore": PersonPart.FIRST_NAME,
    "middle": PersonPart.FIRST_NAME,
    "last": PersonPart.LAST_NAME,
    "sur": PersonPart.LAST_NAME,
    "family": PersonPart.LAST_NAME,
    "": PersonPart.FULL_NAME,
    "full": PersonPart.FULL_NAME,
    "contact": PersonPart.FULL_NAME,
    "customer": PersonPart.FULL_NAME,
    "client": PersonPart.FULL_NAME,
    "ship": PersonPart.FULL_NAME,
    "shipto": PersonPart.FULL_NAME,
    "recipient": PersonPart.FULL_NAME,
    "employee": PersonPart.FULL_NAME,
    "person": PersonPart.FULL_NAME,
    "patient": PersonPart.FULL_NAME,
    "user": PersonPart.FULL_NAME,
    "account": PersonPart.FULL_NAME,
    "holder": PersonPart.FULL_NAME,
    "owner": PersonPart.FULL_NAME,
}
ORGANISATION_PREFIXES = ("company", "business", "supplier", "vendor", "shipper", "firm", "organisation",
                         "organization", "employer", "merchant")
ADDRESS_SUFFIXES = (
    ("address", LocationPart.STREET),
    ("street", LocationPart.STREET),
    ("city", LocationPart.CITY),
    ("town", LocationPart.CITY),
    ("postalcode", LocationPart.POSTCODE),
    ("postcode", LocationPart.POSTCODE),
    ("zipcode", LocationPart.POSTCODE),
    ("zip", LocationPart.POSTCODE),
    ("country", LocationPart.COUNTRY),
)
_ID_NAME = re.compile(r"(?:^|[^a-z0-9])(?:(?:uu|gu)?id|ref|reference|number|num|no|nr)$")
_CAMEL_ID_NAME = re.compile(r"[a-z0-9](?:ID|Id|Ref|Number|Num|No|Nr)$")

IdentifyingVerdict = Union[PersonColumn, LocationColumn, str, None]
"""A person or location column, the reason the column is left out, or None (not identifying)."""


def name_key(name: str) -> str:
    """The column name lower-cased without spaces, `_`, `-` or `.`: `Ship Postal-Code` -> `shippostalcode`."""
    return _SEPARATORS.sub("", name.lower())


def _share(present: pd.Series, pattern: re.Pattern) -> float:
    if len(present) == 0:
        return 0.0
    text = present.astype(str).str.strip()
    return float(text.str.fullmatch(pattern).mean())


def _person_part(key: str) -> Optional[PersonPart]:
    if not key.endswith("name"):
        return None
    return PERSON_PREFIXES.get(key[: -len("name")])


def _address_part(key: str) -> Optional[LocationPart]:
    for suffix, part in ADDRESS_SUFFIXES:
        if key.endswith(suffix):
            return part
    return None


def is_identifier_name(name: str) -> bool:
    """A name for an identifier: an `id`, `ref`, `number`, `no` word at its end (`customer_id`, `CustomerID`,
    `case number`, `CaseRef`, `order_no`)."""
    stripped = name.strip()
    return _CAMEL_ID_NAME.search(stripped) is not None or _ID_NAME.search(stripped.lower()) is not None


def identifying_column(name: str, series: pd.Series, present: pd.Series, kind: str) -> IdentifyingVerdict:
    """Rules 1-6 of the module docstring for a column of `kind` ("text", "integer", ...): a person or location
    column, the reason it is left out, or None. `series` is the whole column, `present` (a sample of) its
    non-null values. Rule 7 is `distinct_share`, applied by the caller where a category would result."""
    key = name_key(name)
    text = kind == "text"
    if text and (key in EMAIL_NAMES or key.endswith("email") or _share(present, _EMAIL) >= PATTERN_SHARE):
        return PersonColumn(name=name, part=PersonPart.EMAIL)
    phone_name = key in PHONE_NAMES or key.endswith(PHONE_SUFFIXES)
    if (text or kind == "integer") and phone_name:
        return "phone number: identifies a person or business, and there is no generator for phone numbers"
    if text and _share(present, _PHONE) >= PATTERN_SHARE and present.astype(str).str.contains(r"[+(]").mean() > 0.5:
        return "phone numbers (by their values): identify a person or business"
    if text:
        part = _person_part(key)
        if part is not None:
            return PersonColumn(name=name, part=part)
        if key.endswith("name") and key[: -len("name")] in ORGANISATION_PREFIXES:
            return "an organisation's name: identifies a customer or business"
    location = _address_part(key)
    if location is not None and (text or (kind == "integer" and location == LocationPart.POSTCODE)):
        return LocationColumn(name=name, part=location)
    if text and _share(present, _STREET) >= PATTERN_SHARE:
        return LocationColumn(name=name, part=LocationPart.STREET)
    if text and _share(present, _LINK) >= PATTERN_SHARE:
        return "links or file paths: they often name a person or an account"
    if text and is_identifier_name(name):
        return "an identifier that is not this table's key: its real values would be copied into the model"
    if text and _is_free_text(present):
        return "free text (notes, descriptions): its real values would be copied into the model"
    return None


def _is_free_text(present: pd.Series) -> bool:
    if len(present) == 0:
        return False
    text = present.astype(str)
    return bool(text.str.len().mean() >= FREE_TEXT_CHARS and text.str.split().str.len().mean() >= FREE_TEXT_WORDS)


def distinct_share(series: pd.Series) -> float:
    """Distinct non-null values over non-null values (0 for a column of nulls)."""
    present = series.dropna()
    return 0.0 if len(present) == 0 else present.nunique() / len(present)


def nearly_distinct_reason(series: pd.Series) -> Optional[str]:
    """Why a text column is an identifier by rule 7 (its values (nearly) all distinct), or None."""
    present = series.dropna()
    share = distinct_share(series)
    if len(present) < 2 or share < DISTINCT_SHARE:
        return None
    return (
        f"identifier-like: {present.nunique()} distinct values in {len(present)} rows; as a category its real "
        "values would be copied into the model"
    )


def coarse_location(column: LocationColumn, series: pd.Series) -> bool:
    """Whether a location column is better a category: a country or city whose frequent values (held by at
    least `MIN_CATEGORY_COUNT` rows each, the `DEFAULT_MAX_CAT` most frequent) cover at least
    `COARSE_LOCATION_SHARE` of its non-null rows (module docstring)."""
    if column.part not in COARSE_LOCATION_PARTS:
        return False
    counts = series.dropna().value_counts()
    if counts.sum() == 0:
        return False
    frequent = counts[counts >= MIN_CATEGORY_COUNT].iloc[:DEFAULT_MAX_CAT]
    return bool(frequent.sum() >= COARSE_LOCATION_SHARE * counts.sum())
