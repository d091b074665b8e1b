"""Data sources: from a `SecretDataSource` (which holds no secret) to a connection URL, and URL masking.

A source resolves through an injectable *resolver*, a callable `source -> url`:

- `env_resolver` (the default) reads the environment variable `source.env_var` (`HAZY_CONN_<ID>`);
- Airflow's resolver (`airflow_provider_hazy.hooks.airflow_source_resolver`) reads the Airflow connection
  `source.connection_id`; operators plug it in.

A `SecretDataSourceIO` carries its URL inline, and that URL wins over any resolver.

The URL is a SQLAlchemy URL for a database (`postgresql://user:pw@host/db`) or an S3 endpoint URL for
object storage (`http://key:secret@127.0.0.1:9000?region_name=eu-west-1`, or `s3://` for AWS itself).
Errors name the source id, never the URL; every URL that reaches a message or a log line goes through
`mask_url` first (`io.masking`, re-exported here).
"""

from __future__ import annotations

import logging
import os
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Union

from ..config import SecretDataSource, SecretDataSourceIO
from ..config.data_location import unencoded_at_problem
from .masking import mask_url, scrub, url_secrets

log = logging.getLogger(__name__)

SourceResolver = Callable[[SecretDataSource], str]
# The resolver used where none is passed explicitly (`use_resolver`); None means `env_resolver`.
_DEFAULT_RESOLVER: ContextVar[Optional[SourceResolver]] = ContextVar("hazy_default_resolver", default=None)

class DataSourceError(LookupError):
    """A data source could not be resolved (the message names the source id, never its URL)."""


def env_resolver(source: SecretDataSource) -> str:
    """Resolve a source from the environment variable `HAZY_CONN_<ID>`."""
    value = os.environ.get(source.env_var, "").strip()
    if not value:
        raise DataSourceError(
            f"data source '{source.id}': environment variable {source.env_var} is not set "
            "(set it to a SQLAlchemy URL or an S3 endpoint URL, or run inside Airflow with a connection "
            f"'{source.connection_id}')"
        )
    problem = unencoded_at_problem(value)
    if problem:
        raise DataSourceError(f"data source '{source.id}': {source.env_var}: {problem}")
    return value


@contextmanager
def use_resolver(resolver: SourceResolver) -> Iterator[None]:
    """Within the block, sources resolved without an explicit resolver go through `resolver`.

    How an Airflow task makes every engine call (`api.train(config)`, ...) resolve its data sources through
    Airflow connections without passing a resolver down, and without a secret entering the config.
    """
    token = _DEFAULT_RESOLVER.set(resolver)
    try:
        yield
    finally:
        _DEFAULT_RESOLVER.reset(token)


def resolve_source_url(source: SecretDataSource, resolver: Optional[SourceResolver] = None) -> str:
    """The URL of `source`: its inline URL for a `SecretDataSourceIO`, else `resolver(source)` (default: the
    resolver of an enclosing `use_resolver` block, else `env_resolver`)."""
    if isinstance(source, SecretDataSourceIO):
        return source.connection_url.get_secret_value()
    resolve = resolver or _DEFAULT_RESOLVER.get() or env_resolver
    try:
        url = resolve(source)
    except DataSourceError:
        raise
    except Exception as error:  # noqa: BLE001 - any resolver failure is reported against the source id
        detail = mask_url(" ".join(str(error).split()))[:300]
        raise DataSourceError(f"data source '{source.id}': cannot resolve: {type(error).__name__}: {detail}") from None
    if not url:
        raise DataSourceError(f"data source '{source.id}': the resolver returned no URL")
    return str(url)


SourcesLike = Union["DataSources", Sequence[SecretDataSource], Mapping[str, SecretDataSource], None]


class DataSources:
    """The declared data sources of a run, their resolver, and the engines and clients built from them.

    A source id that is not declared resolves as a plain `SecretDataSource(id=...)` (so
    `HAZY_CONN_<ID>` works without a declaration). Engines and S3 clients are built once per source and
    reused; `dispose()` closes the engines' pools.
    """

    def __init__(
        self,
        sources: Union[Iterable[SecretDataSource], Mapping[str, SecretDataSource]] = (),
        resolver: Optional[SourceResolver] = None,
        engine_kwargs: Optional[Dict[str, Any]] = None,
    ) -> None:
        items = sources.values() if isinstance(sources, Mapping) else sources
        self._sources: Dict[str, SecretDataSource] = {source.id: source for source in items}
        self.resolver = resolver
        self.engine_kwargs = dict(engine_kwargs or {})
        self._urls: Dict[str, str] = {}
        self._engines: Dict[str, Any] = {}
        self._clients: Dict[Optional[str], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def coerce(cls, sources: SourcesLike) -> DataSources:
        """A `DataSources` from a `DataSources`, a list or mapping of sources, or None."""
        if isinstance(sources, DataSources):
            return sources
        return cls(sources or ())

    def source(self, source_id: str) -> SecretDataSource:
        """The declared source `source_id` (or an undeclared one resolved by id)."""
        found = self._sources.get(source_id)
        return found if found is not None else SecretDataSource(id=source_id)

    def url(self, source_id: str) -> str:
        """The source's URL, resolved once (a secret: never log it, use `mask_url`)."""
        if source_id not in self._urls:
            self._urls[source_id] = resolve_source_url(self.source(source_id), self.resolver)
        return self._urls[source_id]

    def engine(self, source_id: str) -> Any:
        """A SQLAlchemy engine for the source, built once."""
        from .sql import engine_from_url

        with self._lock:
            if source_id not in self._engines:
                url = self.url(source_id)
                source = self.source(source_id)
                timeouts = {"connect_timeout": source.connect_timeout, "read_timeout": source.read_timeout}
                try:
                    engine = engine_from_url(url, **{**timeouts, **self.engine_kwargs})
                except Exception as error:  # noqa: BLE001 - never let the URL escape in a message
                    raise DataSourceError(
                        f"data source '{source_id}': cannot build a database engine from its URL "
                        f"({type(error).__name__}: {scrub(str(error), url_secrets(url))})"
                    ) from None
                log.info("data source '%s': database %s", source_id, mask_url(engine.url))
                self._engines[source_id] = engine
            return self._engines[source_id]

    def s3_client(self, source_id: Optional[str]) -> Any:
        """A boto3 S3 client for the source (None: the default AWS chain and `AWS_ENDPOINT_URL`)."""
        from .s3 import s3_client_from_url

        with self._lock:
            if source_id not in self._clients:
                url = self.url(source_id) if source_id is not None else None
                source = self.source(source_id) if source_id is not None else None
                timeouts = {
                    "connect_timeout": getattr(source, "connect_timeout", None),
                    "read_timeout": getattr(source, "read_timeout", None),
                }
                try:
                    client = s3_client_from_url(url, **timeouts)
                except Exception as error:  # noqa: BLE001 - never let the URL escape in a message
                    where = f"data source '{source_id}'" if source_id else "S3"
                    raise DataSourceError(
                        f"{where}: cannot build an S3 client ({type(error).__name__}: "
                        f"{scrub(str(error), url_secrets(url))})"
                    ) from None
                log.info("data source '%s': S3 endpoint %s", source_id, mask_url(client.meta.endpoint_url))
                self._clients[source_id] = client
            return self._clients[source_id]

    def secrets(self, source_id: Optional[str]) -> list[str]:
        """The secret strings of a source's URL, for scrubbing messages (empty when unresolvable)."""
        if source_id is None:
            return []
        try:
            return url_secrets(self.url(source_id))
        except DataSourceError:
            return []

    def dispose(self) -> None:
        """Close every engine's connection pool."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            self._clients.clear()
            self._urls.clear()

    def __enter__(self) -> DataSources:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()
