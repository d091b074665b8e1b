"""Where tables are read from and written to, and the data sources (connections) they name."""

from __future__ import annotations

import re
from typing import List, Optional, Sequence, Tuple, Union

from pydantic import Field, SecretStr, field_validator

from .base import HazyBaseModel
from .enums import IfExists

_SOURCE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def unencoded_at_problem(url: str) -> Optional[str]:
    """Why a connection URL cannot be read as meant, when its user or password holds an unencoded '@'
    (`postgresql://app:p@ss@db/prod` is read as host `ss@db`); None when fine. Never holds the URL."""
    _, separator, rest = url.partition("://")
    if not separator:
        return None
    before_query = rest.split("?", 1)[0].split("#", 1)[0]
    userinfo = before_query[: before_query.rfind("@")] if "@" in before_query else ""
    if "@" not in userinfo:
        return None
    return (
        "the URL's user or password holds an unencoded '@': percent-encode it as %40 "
        "(in Python: urllib.parse.quote(password, safe='')); the URL is not shown, it holds a secret"
    )


class SecretDataSource(HazyBaseModel):
    """A named data source that holds no secret.

    In Airflow, `conn_id` (default: `id`) names an Airflow connection, so Airflow's secrets backends
    apply. Outside Airflow the source resolves from the environment variable `HAZY_CONN_<ID>` (the id
    upper-cased, `-` and `.` as `_`), holding a SQLAlchemy URL or an S3 endpoint URL. `connect_timeout`
    and `read_timeout` bound the waits on the source (io/timeouts.py says what each driver does with them).
    """

    id: str = Field(min_length=1)
    name: str = ""
    conn_id: Optional[str] = None
    connect_timeout: Optional[float] = Field(
        default=None,
        gt=0,
        le=3600,
        description="Seconds to wait for a connection (database or S3) before failing; default 10.",
    )
    read_timeout: Optional[float] = Field(
        default=None,
        gt=0,
        le=86400,
        description="Seconds to wait on a silent connection before failing; default 600 (databases), 60 (S3).",
    )

    @field_validator("id")
    @classmethod
    def _id_is_plain(cls, value: str) -> str:
        if not _SOURCE_ID.match(value):
            raise ValueError(f"data source id '{value}' may hold only letters, digits, '_', '-' and '.'")
        return value

    @property
    def connection_id(self) -> str:
        """The Airflow connection this source names."""
        return self.conn_id or self.id

    @property
    def env_var(self) -> str:
        """The environment variable that resolves this source outside Airflow."""
        return "HAZY_CONN_" + re.sub(r"[^A-Za-z0-9]", "_", self.id).upper()


class SecretDataSourceIO(SecretDataSource):
    """A data source with an inline connection URL (a secret). Discouraged: `sanitize()` removes it."""

    connection_url: SecretStr

    @field_validator("connection_url")
    @classmethod
    def _not_a_masked_dump(cls, value: SecretStr) -> SecretStr:
        if set(value.get_secret_value()) <= {"*"}:
            raise ValueError(
                "connection_url is masked (a config file written without its secret): name an Airflow "
                "connection or set HAZY_CONN_<ID> instead"
            )
        problem = unencoded_at_problem(value.get_secret_value())
        if problem:
            raise ValueError(f"connection_url: {problem}")
        return value

    def without_secret(self) -> SecretDataSource:
        """The same source with the inline secret dropped."""
        return SecretDataSource(
            id=self.id,
            name=self.name,
            conn_id=self.conn_id,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )


DataSource = Union[SecretDataSourceIO, SecretDataSource]


class PathReadTableConfig(HazyBaseModel):
    """A file to read: local path or `s3://bucket/key`; CSV (`.csv`, `.csv.gz`) or Parquet by extension."""

    path: str = Field(min_length=1)
    source_id: Optional[str] = Field(default=None, description="Data source for S3 credentials and endpoint.")


class PathWriteTableConfig(HazyBaseModel):
    """A file to write, with what to do if it exists and where a failed batch goes."""

    path: str = Field(min_length=1)
    source_id: Optional[str] = None
    if_exists: IfExists = IfExists.FAIL
    fail_safe_path: Optional[str] = Field(default=None, description="Where a batch that fails to write goes.")


class DatabaseReadTableConfig(HazyBaseModel):
    """A database table to read through the data source `source_id`."""

    source_id: str = Field(min_length=1)
    schema_name: Optional[str] = None
    table_name: str = Field(min_length=1)


class DatabaseWriteTableConfig(DatabaseReadTableConfig):
    """A database table to write through the data source `source_id`."""

    if_exists: IfExists = IfExists.FAIL
    fail_safe_path: Optional[str] = Field(default=None, description="Where a batch that fails to write goes.")


class GenericEndpoint(HazyBaseModel):
    """A URL (such as `s3://bucket/models/m.hmf`) reached through the data source `source_id`."""

    url: str = Field(min_length=1)
    source_id: Optional[str] = None


class DataLocationInput(HazyBaseModel):
    """Where the source table `name` is read from."""

    name: str = Field(min_length=1, description="Table name in the data schema.")
    location: Union[DatabaseReadTableConfig, PathReadTableConfig, str]


class DataLocationOutput(HazyBaseModel):
    """Where the synthetic table `name` is written."""

    name: str = Field(min_length=1, description="Table name in the data schema.")
    location: Union[DatabaseWriteTableConfig, PathWriteTableConfig, str]


def location_source_id(location: object) -> Optional[str]:
    """The data source id a location refers to, if any."""
    return getattr(location, "source_id", None)


def check_source_ids(located: Sequence[Tuple[str, object]], sources: List[DataSource]) -> None:
    """Raise ValueError naming the field when a location names a data source that is not declared.

    `located` holds (field, location) pairs such as ("data_input 'orders'", location) or ("model_output", path).
    """
    known = {source.id for source in sources}
    ids = [source.id for source in sources]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"data_sources: duplicate id(s) {duplicates}")
    for where, location in located:
        source_id = location_source_id(location)
        if source_id is not None and source_id not in known:
            raise ValueError(f"{where}: source_id '{source_id}' is not in data_sources {sorted(known)}")
