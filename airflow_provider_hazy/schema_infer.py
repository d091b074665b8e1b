"""A first `DataSchema` from data: the column types a user would otherwise write by hand, as editable YAML.

Each column gets the first rule that fits, in this order:

1. Left out, with a note: a column that is entirely null (empty text counts as null, as with the
   training default `empty_strings_as_null`), or whose values are bytes (BLOBs): neither can be modelled.
2. `id`: the first column of the table named `id`, or ending in a word `id` (`customer_id`, `CustomerID`,
   `Customer Id`; also `uuid`, `guid`), with no nulls and unique values. Integers -> format numerical
   (start 1); canonical UUID text -> uuid; text of one fixed shape -> pattern (below); other text -> uuid.
   A table gets at most one id column: later candidates fall through to the rules below.
3. `constant`: one distinct value and no nulls (the value is kept, dates as ISO text).
4. `bool`: a boolean dtype or Python booleans, or text whose values are all (ignoring case and spaces)
   in true/false, yes/no, t/f, y/n.
5. `person` / `location`, from the column name (ignoring case, spaces, `_`, `-`, `.`) when the values are
   text: email -> email; first_name, forename, given_name -> first_name; last_name, surname, family_name
   -> last_name; name, full_name, contact_name, customer_name -> full_name; city, town -> city; postcode,
   postal_code, zip, zip_code -> postcode (integers too: zip codes read from CSV); address, street ->
   street; country -> country. A country or city column whose values are few and frequent is a `category`
   instead (`identifying_columns.coarse_location`: values held by at least 5 rows cover 90% of its rows).
6. `integer`: integer dtypes, and floats holding only whole numbers (and NaN); `float`: other numbers.
7. `date` / `datetime`: datetime dtypes and Python date / datetime objects (all times midnight -> date);
   time-zone-aware values are always datetime. Text that parses as dates: the format is detected with
   `core.datetime_text.detect_format`, then a short list of common formats, and the first format with a
   year and a month (or day of year) that parses every distinct non-null value (of the sample) is kept in
   the column's `format` (so training reads and writes the text as it was); a format with no time part
   -> date, else datetime.
8. `category`: everything else (text, mixed values).

Fixed-shape text ids: every value has the same length and, at each position, either the same character,
or only digits, or only uppercase letters A-Z, or only lowercase hex 0-9a-f. Runs of digit/hex positions
and runs of letter positions that vary become `{digits:n}`, `{hex:n}` (a run with any a-f) and
`{letters:n}`, constant digits or letters inside such a run included (`ORD-000123`, `ORD-004567` ->
`ORD-{digits:6}`); other constant characters are kept as they are (`ALFKI` -> `{letters:5}`).

Tables: a table with no rows, or left with no column, is left out with a note (nothing to learn from).
Foreign keys, reference and sequential tables are not inferred: every table is tabular.

Type detection looks at (a random sample of at most `SAMPLE_ROWS` of) a column's non-null values, with
whole-column pandas / NumPy operations; nulls, uniqueness, constancy and whole numbers are checked on the
whole column.
"""

from __future__ import annotations

import re
import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd
import yaml

from .config.enums import IdFormat, LocationPart, PersonPart
from .config.schema import (
    BoolColumn,
    CategoryColumn,
    Column,
    ConstantColumn,
    DataSchema,
    DateColumn,
    DatetimeColumn,
    FloatColumn,
    IdColumn,
    IntegerColumn,
    LocationColumn,
    PersonColumn,
    TabularTable,
)
from .core.datetime_text import detect_format, parse_text
from .identifying_columns import coarse_location, identifying_column, nearly_distinct_reason
from .io.files import CSV_SUFFIXES, PARQUET_SUFFIXES, read_file_table

SAMPLE_ROWS = 100_000
_SAMPLE_SEED = 0
BOOL_TEXT = frozenset({"true", "false", "yes", "no", "t", "f", "y", "n"})
COMMON_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
)
_DATE_CHECK_HEAD = 50
_TIME_DIRECTIVES = set("HIMSfp")
_UUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID_WORD = re.compile(r"(?:^|[^a-z0-9])(?:uu|gu)?id$")  # on the lower-cased name: id, customer_id, row-id
_CAMEL_ID = re.compile(r"[a-z0-9](?:ID|Id)$")  # CustomerID, customerId
_SEPARATORS = re.compile(r"[\s_\-.]+")
PERSON_NAMES = {
    "email": PersonPart.EMAIL,
    "emailaddress": PersonPart.EMAIL,
    "firstname": PersonPart.FIRST_NAME,
    "forename": PersonPart.FIRST_NAME,
    "givenname": PersonPart.FIRST_NAME,
    "lastname": PersonPart.LAST_NAME,
    "surname": PersonPart.LAST_NAME,
    "familyname": PersonPart.LAST_NAME,
    "name": PersonPart.FULL_NAME,
    "fullname": PersonPart.FULL_NAME,
    "contactname": PersonPart.FULL_NAME,
    "customername": PersonPart.FULL_NAME,
}
LOCATION_NAMES = {
    "city": LocationPart.CITY,
    "town": LocationPart.CITY,
    "postcode": LocationPart.POSTCODE,
    "postalcode": LocationPart.POSTCODE,
    "zip": LocationPart.POSTCODE,
    "zipcode": LocationPart.POSTCODE,
    "address": LocationPart.STREET,
    "street": LocationPart.STREET,
    "country": LocationPart.COUNTRY,
}

# kinds of value (see `_value_kind`) that cannot be modelled, and the reason given in the notes
LEFT_OUT_KINDS = {"null": "only nulls", "bytes": "binary data"}

PathLike = Union[str, Path]


# Public API -------------------------------------------------------------------------------------------------


def infer_table_with_notes(name: str, frame: pd.DataFrame) -> Tuple[Optional[TabularTable], List[str]]:
    """The table's columns by the rules above, and a note for each column (or the table) left out;
    the table is None when it is left out."""
    where = f"table '{name}'"
    duplicates = sorted({str(column) for column in frame.columns[frame.columns.duplicated()]})
    if duplicates:
        raise ValueError(f"{where}: duplicate column name(s) {duplicates}")
    if frame.shape[1] == 0:
        return None, [f"{where}: left out (no columns)"]
    if len(frame) == 0:
        return None, [f"{where}: left out (no rows to learn from)"]
    columns: List[Column] = []
    notes: List[str] = []
    for position, column_name in enumerate(frame.columns):
        series = _empty_text_as_null(frame.iloc[:, position])
        present = _sample(series.dropna())
        kind = _value_kind(series, present) if len(present) else "null"
        if kind in LEFT_OUT_KINDS:
            notes.append(f"{where}, column '{column_name}': left out ({LEFT_OUT_KINDS[kind]})")
            continue
        has_id = any(isinstance(column, IdColumn) for column in columns)
        inferred = _infer_column(str(column_name), series, present, kind, id_allowed=not has_id)
        if isinstance(inferred, str):
            notes.append(f"{where}, column '{column_name}': left out ({inferred})")
            continue
        columns.append(inferred)
    if not columns:
        notes.append(f"{where}: left out (no column can be modelled)")
        return None, notes
    return TabularTable(name=name, columns=columns), notes


def infer_table(name: str, frame: pd.DataFrame) -> TabularTable:
    """The table's columns by the rules above (ValueError with the reasons when none can be modelled)."""
    table, notes = infer_table_with_notes(name, frame)
    if table is None:
        raise ValueError("; ".join(notes))
    return table


def infer_schema_with_notes(frames: Dict[str, pd.DataFrame]) -> Tuple[DataSchema, List[str]]:
    """A schema of one tabular table per frame (in the dict's order), and the notes of what was left out."""
    tables: List[TabularTable] = []
    notes: List[str] = []
    for name, frame in frames.items():
        table, table_notes = infer_table_with_notes(name, frame)
        notes.extend(table_notes)
        if table is not None:
            tables.append(table)
    if not tables:
        raise ValueError("no table can be modelled: " + ("; ".join(notes) or "no tables given"))
    return DataSchema(tables=tables), notes


def infer_schema(frames: Dict[str, pd.DataFrame]) -> DataSchema:
    """A schema of one tabular table per frame (what cannot be modelled is left out)."""
    return infer_schema_with_notes(frames)[0]


def table_name_of_file(path: PathLike) -> str:
    """A file's stem without its table suffix: `orders.csv.gz` -> `orders`."""
    file_name = Path(path).name
    for suffix in CSV_SUFFIXES[::-1] + PARQUET_SUFFIXES:  # `.csv.gz` before `.csv`
        if file_name.lower().endswith(suffix):
            return file_name[: -len(suffix)]
    raise ValueError(f"{path}: unknown table file format (use .csv, .csv.gz, .parquet or .pq)")


def read_table_files(paths: Sequence[PathLike]) -> Dict[str, pd.DataFrame]:
    """Local `.csv`, `.csv.gz`, `.parquet` and `.pq` files, one table each, named after the file's stem."""
    frames: Dict[str, pd.DataFrame] = {}
    sources: Dict[str, PathLike] = {}
    for path in paths:
        name = table_name_of_file(path)
        if name in sources:
            raise ValueError(f"{path}: table name '{name}' is also the name of {sources[name]}")
        sources[name] = path
        frames[name] = read_file_table(path)
    return frames


def infer_schema_from_files(paths: Sequence[PathLike]) -> DataSchema:
    """`infer_schema` over local table files (see `read_table_files`)."""
    return infer_schema(read_table_files(paths))


def schema_to_yaml(schema: DataSchema) -> str:
    """YAML a user can read and edit: non-default fields only, but every table keeps its name, type and
    columns and every column its name and type. `DataSchema.model_validate(yaml.safe_load(text))` gives the
    schema back."""
    document = schema.model_dump(mode="json", exclude_defaults=True)
    document["tables"] = [_table_document(table) for table in schema.tables]
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


# One column -------------------------------------------------------------------------------------------------


def _infer_column(
    name: str, series: pd.Series, present: pd.Series, kind: str, id_allowed: bool
) -> Union[Column, str]:
    """The type of a column that can be modelled, by the rules above, or the reason it is left out (an
    identifying column that is neither a person nor a location, `identifying_columns`); `present` is (a
    sample of) its non-null values and `kind` what they are (see `_value_kind`)."""
    complete = not series.isna().any()
    if id_allowed and complete and kind in ("integer", "text") and is_id_name(name) and series.is_unique:
        return _id_column(name, present, kind)
    if complete and series.nunique(dropna=False) == 1:
        return ConstantColumn(name=name, value=_plain_value(series.iloc[0]))
    if kind == "bool" or (kind == "text" and _is_bool_text(present)):
        return BoolColumn(name=name)
    identifying = _person_or_location(name, kind) or identifying_column(name, series, present, kind)
    if isinstance(identifying, LocationColumn) and coarse_location(identifying, series):
        return CategoryColumn(name=name)
    if identifying is not None:
        return identifying
    if kind == "integer":
        return IntegerColumn(name=name)
    if kind == "float":
        return FloatColumn(name=name)
    if kind in ("datetime", "date"):
        return _datetime_column(name, present, kind)
    if kind == "text":
        fmt = detect_date_format(present)
        if fmt is not None:
            is_datetime = bool(_directives(fmt) & _TIME_DIRECTIVES)
            return DatetimeColumn(name=name, format=fmt) if is_datetime else DateColumn(name=name, format=fmt)
        distinct = nearly_distinct_reason(series)
        if distinct is not None:
            if id_allowed and complete and series.is_unique:
                return _id_column(name, present, kind)
            return distinct
    return CategoryColumn(name=name)


def is_id_name(name: str) -> bool:
    """`id`, or a name ending in the word `id` (`customer_id`, `CustomerID`, `Customer Id`, `uuid`)."""
    stripped = name.strip()
    return bool(_ID_WORD.search(stripped.lower()) or _CAMEL_ID.search(stripped))


def _empty_text_as_null(series: pd.Series) -> pd.Series:
    """Empty strings as nulls (the training default `empty_strings_as_null`), in text and object columns."""
    if not (pd.api.types.is_object_dtype(series.dtype) or isinstance(series.dtype, pd.StringDtype)):
        return series
    empty = series.eq("").to_numpy(dtype=bool, na_value=False)
    return series.mask(empty) if empty.any() else series


def _sample(present: pd.Series) -> pd.Series:
    """At most `SAMPLE_ROWS` values, drawn at random (seeded) from a big column."""
    if len(present) <= SAMPLE_ROWS:
        return present
    return present.sample(n=SAMPLE_ROWS, random_state=np.random.default_rng(_SAMPLE_SEED))


def _value_kind(series: pd.Series, present: pd.Series) -> str:
    """What a column holds: bool, integer, float, datetime, date, text, bytes or other. `present` is (a sample
    of) its non-null values; whole numbers in a float column are checked on the whole column."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _value_kind(present.astype(dtype.categories.dtype), present.astype(dtype.categories.dtype))
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "integer" if _whole_numbers(series) else "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if isinstance(dtype, pd.StringDtype):
        return "text"
    if not pd.api.types.is_object_dtype(dtype):
        return "other"
    inferred = pd.api.types.infer_dtype(present, skipna=True)
    if inferred in ("floating", "mixed-integer-float", "decimal"):
        return "integer" if _whole_numbers(pd.to_numeric(series, errors="coerce")) else "float"
    kinds = {
        "string": "text",
        "bytes": "bytes",
        "boolean": "bool",
        "integer": "integer",
        "datetime": "datetime",
        "datetime64": "datetime",
        "date": "date",
    }
    return kinds.get(inferred, "other")


def _whole_numbers(series: pd.Series) -> bool:
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = values[~np.isnan(values)]
    return bool(np.isfinite(values).all() and (values == np.floor(values)).all())


def _plain_value(value: object) -> Union[bool, int, float, str]:
    """A constant as YAML holds it: bool, int, float or str (dates and times as ISO text)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _is_bool_text(present: pd.Series) -> bool:
    distinct = pd.Index(pd.unique(present.to_numpy())).astype(str).str.strip().str.lower()
    return bool(distinct.isin(BOOL_TEXT).all())


def _person_or_location(name: str, kind: str) -> Optional[Union[PersonColumn, LocationColumn]]:
    key = _SEPARATORS.sub("", name.lower())
    if kind == "text" and key in PERSON_NAMES:
        return PersonColumn(name=name, part=PERSON_NAMES[key])
    part = LOCATION_NAMES.get(key)
    if part is not None and (kind == "text" or (kind == "integer" and part == LocationPart.POSTCODE)):
        return LocationColumn(name=name, part=part)
    return None


# Ids --------------------------------------------------------------------------------------------------------


def _id_column(name: str, present: pd.Series, kind: str) -> IdColumn:
    if kind == "integer":
        return IdColumn(name=name, format=IdFormat.NUMERICAL)
    text = present.astype(str)
    if text.str.fullmatch(_UUID_TEXT).all():
        return IdColumn(name=name, format=IdFormat.UUID)
    pattern = infer_id_pattern(text)
    if pattern is None:
        return IdColumn(name=name, format=IdFormat.UUID)
    return IdColumn(name=name, format=IdFormat.PATTERN, pattern=pattern)


def infer_id_pattern(values: pd.Series) -> Optional[str]:
    """The `{digits:n}` / `{letters:n}` / `{hex:n}` pattern of text values of one fixed shape, or None."""
    lengths = values.str.len()
    width = int(lengths.iloc[0]) if len(values) else 0
    if width == 0 or (lengths != width).any():
        return None
    text = np.asarray(values.to_numpy(dtype=object), dtype=f"<U{width}")
    codes = text.view(np.uint32).reshape(len(text), width)
    if codes.shape[1] != width:  # a trailing NUL character shortens a NumPy string
        return None
    constant = (codes == codes[0]).all(axis=0)
    digits = ((codes >= ord("0")) & (codes <= ord("9"))).all(axis=0)
    upper = ((codes >= ord("A")) & (codes <= ord("Z"))).all(axis=0)
    hex_lower = (((codes >= ord("0")) & (codes <= ord("9"))) | ((codes >= ord("a")) & (codes <= ord("f")))).all(axis=0)
    if not (constant | digits | upper | hex_lower).all():
        return None
    # each position: a run kind ("number", "letter" or a literal character) and whether it varies
    run_kinds = np.where(digits | (hex_lower & ~constant), "number", np.where(upper, "letter", ""))
    pieces: List[str] = []
    start = 0
    while start < width:
        end = start + 1
        if run_kinds[start]:
            while end < width and run_kinds[end] == run_kinds[start]:
                end += 1
        pieces.append(_pattern_piece(codes[0, start:end], run_kinds[start], constant[start:end], digits[start:end]))
        start = end
    pattern = "".join(pieces)
    if "{" in text[0] or "}" in text[0] or "{" not in pattern:
        return None
    return pattern


def _pattern_piece(first: np.ndarray, run_kind: str, constant: np.ndarray, digits: np.ndarray) -> str:
    """One run of positions: its literal text when no position varies, else one placeholder."""
    if constant.all():
        return "".join(map(chr, first))
    if run_kind == "letter":
        return f"{{letters:{len(first)}}}"
    return f"{{{'digits' if digits.all() else 'hex'}:{len(first)}}}"


# Dates ------------------------------------------------------------------------------------------------------


def _datetime_column(name: str, present: pd.Series, kind: str) -> Union[DateColumn, DatetimeColumn, CategoryColumn]:
    if kind == "date":
        return DateColumn(name=name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(present)
    except (ValueError, TypeError, OverflowError):
        return CategoryColumn(name=name)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        return DatetimeColumn(name=name)
    values = stamps.to_numpy(dtype="datetime64[ns]")
    midnight = (values == values.astype("datetime64[D]")).all()
    return DateColumn(name=name) if midnight else DatetimeColumn(name=name)


def detect_date_format(present: pd.Series) -> Optional[str]:
    """A strftime format with a year and a month (or day of year) that parses every distinct value of a
    text column, or None. Tries the format `detect_format` guesses, then `COMMON_DATE_FORMATS`."""
    distinct = pd.Series(pd.unique(present.to_numpy()), dtype=object)
    head = distinct.iloc[:_DATE_CHECK_HEAD].astype(str)
    if not head.str.contains(r"\d", regex=True).all():
        return None
    candidates = [detect_format(distinct), *COMMON_DATE_FORMATS]
    for fmt in dict.fromkeys(candidate for candidate in candidates if candidate):
        if not _is_calendar_format(fmt):
            continue
        if parse_text(head, fmt)[1].any() or parse_text(distinct, fmt)[1].any():
            continue
        return fmt
    return None


def _directives(fmt: str) -> set:
    return set(re.findall(r"%(.)", fmt))


def _is_calendar_format(fmt: str) -> bool:
    found = _directives(fmt)
    return bool(found & {"Y", "y"}) and bool(found & {"m", "b", "B", "j"})


# YAML -------------------------------------------------------------------------------------------------------


def _leading(model: object, keys: Sequence[str], rest: Dict[str, object]) -> Dict[str, object]:
    """`keys` first (with their values, default or not), then the other non-default fields."""
    full = model.model_dump(mode="json", include=set(keys))
    return {**{key: full[key] for key in keys}, **{key: value for key, value in rest.items() if key not in keys}}


def _table_document(table: TabularTable) -> Dict[str, object]:
    rest = table.model_dump(mode="json", exclude_defaults=True, exclude={"columns"})
    document = _leading(table, ("name", "type"), rest)
    document["columns"] = [
        _leading(column, ("name", "type"), column.model_dump(mode="json", exclude_defaults=True))
        for column in table.columns
    ]
    return document


def infer_schema_from_files_with_notes(paths: Sequence[PathLike]) -> Tuple[DataSchema, List[str]]:
    """`infer_schema_with_notes` over local table files (see `read_table_files`)."""
    return infer_schema_with_notes(read_table_files(paths))


# Databases --------------------------------------------------------------------------------------------------
#
# `infer_schema_from_database` reflects the tables of a database (SQLAlchemy) and keeps what the database
# knows for sure, applying the rules above to a bounded sample of rows for the rest:
#
# - Primary keys: a single-column primary key is an `id` column (integers -> numerical; text -> pattern or
#   uuid as rule 2 says); each column of a composite primary key is a `foreign_key` when it is one, else an
#   `id`, and the table's `primary_key` lists them. A primary key that is also a foreign key (one-to-one) is a
#   `foreign_key` named in `primary_key`. Only primary keys are ids: rule 2 is not applied to other columns.
# - Foreign keys: every constraint whose columns reference the whole primary key of a reflected table (of the
#   same schema) gives one `foreign_key` column per column, self-references included; a constraint to a
#   non-key column, to another schema or to a table left out is dropped with a note (its columns are typed
#   as data); a constraint closing a cycle between tables is dropped with a note (a schema allows none).
# - BLOB / binary columns (`LargeBinary`, BYTEA, VARBINARY, ...) are left out with a note.
# - Other columns: rules 1, 3-8 on the first `sample_rows` rows (`SAMPLE_ROWS`) as `io.sql` reads them.
# - A table without rows is kept (so that keys to it resolve) as a `reference` table whose columns are typed
#   from their database types (nothing is learnt from it, it generates as an empty table), with a note.

_BINARY_NOTE = "binary data (BLOB), which cannot be modelled"


def infer_schema_from_database(
    url_or_engine: object,
    schema_name: Optional[str] = None,
    tables: Optional[Sequence[str]] = None,
    sample_rows: int = SAMPLE_ROWS,
) -> Tuple[DataSchema, List[str]]:
    """A schema of every table of a database (or of `tables`), and notes on what was left out and why.

    `url_or_engine` is a SQLAlchemy URL or Engine; `schema_name` the database schema to reflect (default:
    the connection's). See the rules in the comment above.
    """
    import sqlalchemy as sa

    from .io.sources import mask_url, scrub, url_secrets
    from .io.sql import engine_from_url

    owned = not isinstance(url_or_engine, sa.Engine)
    url = url_or_engine.url if isinstance(url_or_engine, sa.Engine) else url_or_engine
    try:
        engine = engine_from_url(url) if owned else url_or_engine
        try:
            return _infer_database(engine, schema_name, tables, sample_rows)
        finally:
            if owned:
                engine.dispose()
    except (sa.exc.SQLAlchemyError, ImportError) as error:  # a message without the URL's password
        detail = scrub(str(error).split("\n")[0], url_secrets(url))
        raise ValueError(f"database {mask_url(url)}: cannot reflect: {type(error).__name__}: {detail}") from None


def _infer_database(
    engine: object, schema_name: Optional[str], tables: Optional[Sequence[str]], sample_rows: int
) -> Tuple[DataSchema, List[str]]:
    import sqlalchemy as sa

    from .config.schema import find_foreign_key_cycle
    from .io.sql import read_sql_table

    inspector = sa.inspect(engine)
    available = inspector.get_table_names(schema=schema_name)
    where_schema = f" in schema '{schema_name}'" if schema_name else ""
    if tables:
        unknown = [name for name in tables if name not in available]
        if unknown:
            raise ValueError(f"database: no table(s) {unknown}{where_schema} (tables: {available})")
        names = list(tables)
    else:
        names = list(available)
    if not names:
        raise ValueError(f"database: no tables{where_schema}")
    reflected = {}
    for name in names:
        reflected[name] = {
            "columns": inspector.get_columns(name, schema=schema_name),
            "pk": list(inspector.get_pk_constraint(name, schema=schema_name).get("constrained_columns") or []),
            "fks": inspector.get_foreign_keys(name, schema=schema_name),
            "sample": next(iter(read_sql_table(engine, name, schema_name, chunk_size=sample_rows, limit=sample_rows))),
            "dialect": engine.dialect,
        }
    notes: List[str] = []
    dropped_fks: set = set()  # (table, constraint position) left out
    left_out: set = set()
    while True:
        table_notes: List[str] = []
        built: Dict[str, object] = {}
        for name in names:
            if name in left_out:
                continue
            table, found = _database_table(name, reflected, left_out, dropped_fks, schema_name)
            table_notes.extend(found)
            if table is None:
                left_out.add(name)
                notes.extend(found)
                break
            built[name] = table
        else:
            parents = {
                name: sorted({fk.ref_table for fk in table.foreign_keys if fk.ref_table != name})
                for name, table in built.items()
            }
            cycle = find_foreign_key_cycle(parents)
            if not cycle:
                notes.extend(table_notes)
                break
            child, parent = cycle[-2], cycle[-1]
            for position, fk in enumerate(reflected[child]["fks"]):
                if fk["referred_table"] == parent:
                    dropped_fks.add((child, position))
                    notes.append(
                        f"table '{child}': foreign key {fk['constrained_columns']} to '{parent}' left out "
                        f"(it closes the cycle {' -> '.join(cycle)}); its columns are typed as data"
                    )
            continue
    if not built:
        raise ValueError("no table can be modelled: " + "; ".join(notes))
    return DataSchema(tables=list(built.values())), _unique(notes)


def _unique(notes: List[str]) -> List[str]:
    return list(dict.fromkeys(notes))


def _valid_foreign_keys(
    name: str, info: dict, reflected: dict, left_out: set, dropped: set, schema_name: Optional[str], notes: List[str]
) -> Dict[str, Tuple[str, str]]:
    """column -> (parent table, parent column) of the constraints kept."""
    kept: Dict[str, Tuple[str, str]] = {}
    for position, fk in enumerate(info["fks"]):
        if (name, position) in dropped:
            continue
        columns, parent, referred = fk["constrained_columns"], fk["referred_table"], fk["referred_columns"]
        what = f"table '{name}': foreign key {columns} to '{parent}'"
        if fk.get("referred_schema") not in (None, schema_name):
            notes.append(f"{what} left out (table of another schema '{fk['referred_schema']}')")
            continue
        if parent not in reflected or parent in left_out:
            notes.append(f"{what} left out (table '{parent}' is not in the schema)")
            continue
        if sorted(referred) != sorted(reflected[parent]["pk"]):
            notes.append(f"{what} left out (it references {referred}, not the primary key of '{parent}')")
            continue
        for column, target in zip(columns, referred):
            if column in kept:
                notes.append(f"table '{name}', column '{column}': in several foreign keys; the first is kept")
                continue
            kept[column] = (parent, target)
    return kept


def _database_table(
    name: str, reflected: dict, left_out: set, dropped: set, schema_name: Optional[str]
) -> Tuple[Optional[object], List[str]]:
    """The table of reflected `name` (None when nothing can be modelled) and its notes."""
    import sqlalchemy as sa

    from .config.schema import ForeignKeyColumn, ReferenceTable

    info = reflected[name]
    where = f"table '{name}'"
    notes: List[str] = []
    foreign = _valid_foreign_keys(name, info, reflected, left_out, dropped, schema_name, notes)
    sample: pd.DataFrame = info["sample"]
    empty = len(sample) == 0
    pk = info["pk"]
    columns: List[Column] = []
    for column in info["columns"]:
        column_name = column["name"]
        if isinstance(column["type"], (sa.LargeBinary, sa.types._Binary)):
            notes.append(f"{where}, column '{column_name}': left out ({_BINARY_NOTE})")
            continue
        if column_name in foreign:
            parent, target = foreign[column_name]
            columns.append(ForeignKeyColumn(name=column_name, ref_table=parent, ref_column=target))
            continue
        series = _empty_text_as_null(sample[column_name])
        present = _sample(series.dropna())
        kind = _value_kind(series, present) if len(present) else "null"
        if column_name in pk:
            columns.append(_database_id(column_name, present, kind, column["type"]))
            continue
        if empty:
            columns.append(_column_of_type(column_name, column["type"], info["dialect"]))
            continue
        if kind in LEFT_OUT_KINDS:
            reason = _BINARY_NOTE if kind == "bytes" else LEFT_OUT_KINDS[kind] + " in the sample"
            notes.append(f"{where}, column '{column_name}': left out ({reason})")
            continue
        inferred = _infer_column(str(column_name), series, present, kind, id_allowed=False)
        if isinstance(inferred, str):
            notes.append(f"{where}, column '{column_name}': left out ({inferred})")
            continue
        columns.append(inferred)
    if not columns:
        notes.append(f"{where}: left out (no column can be modelled)")
        return None, notes
    kept_pk = [column for column in pk if any(c.name == column for c in columns)]
    single_id = len(kept_pk) == 1 and isinstance(next(c for c in columns if c.name == kept_pk[0]), IdColumn)
    primary_key = [] if single_id else kept_pk
    if empty:
        notes.append(
            f"{where}: no rows; kept as an empty reference table (column types from the database) so that "
            "keys to it resolve"
        )
        return ReferenceTable(name=name, columns=columns, primary_key=primary_key), notes
    return TabularTable(name=name, columns=columns, primary_key=primary_key), notes


def _database_id(name: str, present: pd.Series, kind: str, column_type: object) -> IdColumn:
    """A primary-key column: by its sampled values when there are any, else by its database type."""
    import sqlalchemy as sa

    if kind in ("integer", "text"):
        return _id_column(name, present, kind)
    if kind == "null" and isinstance(column_type, sa.Integer):
        return IdColumn(name=name, format=IdFormat.NUMERICAL)
    return IdColumn(name=name, format=IdFormat.UUID)


def _column_of_type(name: str, column_type: object, dialect: object) -> Column:
    """A column typed from its database type only (a table without rows)."""

    from .io.sql import column_kind

    kind = column_kind(column_type, dialect)
    by_kind = {
        "int": IntegerColumn,
        "float": FloatColumn,
        "bool": BoolColumn,
        "datetime": DatetimeColumn,
        "datetime_tz": DatetimeColumn,
        "date": DateColumn,
    }
    return by_kind.get(kind, CategoryColumn)(name=name)
