"""Enumerations of the configuration API (values as in Hazy's configurator)."""

from __future__ import annotations

from enum import Enum


class BinningStrategyType(str, Enum):
    """How numeric columns are cut into bins."""

    UNIFORM = "uniform"
    QUANTILE = "quantile"


class PrivBayesUnknownCombinationStrategyType(str, Enum):
    """Distribution used for a parent combination that has no mass in the noisy counts."""

    UNIFORM = "uniform"
    MARGINAL = "marginal"


class AdjacencyType(str, Enum):
    """How child rows are attached to parent rows in multi-table generation."""

    DEFAULT = "default"
    RANDOM = "random"
    DEGREE_PRESERVING = "degree_preserving"


class MetricType(str, Enum):
    """Evaluation metrics (the `metric_type` discriminator)."""

    HISTOGRAM_SIMILARITY = "histogram_similarity"
    MUTUAL_INFORMATION_SIMILARITY = "mutual_information_similarity"
    CROSS_TABLE_MUTUAL_INFORMATION_SIMILARITY = "cross_table_mutual_information_similarity"
    DEGREE_DISTRIBUTION_SIMILARITY = "degree_distribution_similarity"
    PREDICTIVE_UTILITY = "predictive_utility"
    PRESENCE_DISCLOSURE = "presence_disclosure"
    DENSITY_DISCLOSURE = "density_disclosure"
    DISTANCE_TO_CLOSEST_RECORD = "distance_to_closest_record"


class GeneratorType(str, Enum):
    """Synthesisers (the `generator_type` discriminator)."""

    PRIV_BAYES = "priv_bayes"
    INDEPENDENT = "independent"


class IfExists(str, Enum):
    """What a write does when the target table or file already exists."""

    FAIL = "fail"
    REPLACE = "replace"
    APPEND = "append"


class TableType(str, Enum):
    """Kinds of table in a `DataSchema` (the `type` discriminator of a table)."""

    TABULAR = "tabular"
    REFERENCE = "reference"
    SEQUENTIAL = "sequential"


class ColumnType(str, Enum):
    """Kinds of column in a table (the `type` discriminator of a column)."""

    ID = "id"
    FOREIGN_KEY = "foreign_key"
    CATEGORY = "category"
    INTEGER = "integer"
    FLOAT = "float"
    BOOL = "bool"
    DATETIME = "datetime"
    DATE = "date"
    PERSON = "person"
    LOCATION = "location"
    AGE = "age"
    CONSTANT = "constant"


class IdFormat(str, Enum):
    """How an id column's values are generated."""

    NUMERICAL = "numerical"
    UUID = "uuid"
    PATTERN = "pattern"


class PersonPart(str, Enum):
    """Which part of a person a person column holds."""

    FIRST_NAME = "first_name"
    LAST_NAME = "last_name"
    FULL_NAME = "full_name"
    EMAIL = "email"


class LocationPart(str, Enum):
    """Which part of an address a location column holds."""

    CITY = "city"
    POSTCODE = "postcode"
    STREET = "street"
    COUNTRY = "country"
