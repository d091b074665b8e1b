"""`HazyBaseOperator`: a templated config, connection-id overrides, and an engine call made with them."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Type

from airflow.sdk import BaseOperator

from ..io.sources import use_resolver
from .configs import ConfigT, OperatorConfig, apply_connections, connection_resolver, load_config


class HazyBaseOperator(BaseOperator):
    """Shared by every Hazy operator. Arguments are stored as given; nothing is read before `execute`.

    :param config: a config object, a dict (its string values are Jinja-rendered) or a path to JSON/YAML.
    :param source_conn_id: Airflow connection for every database table the config reads.
    :param target_conn_id: Airflow connection for every database table the config writes.
    :param aws_conn_id: Airflow connection for every S3 path the config names.
    """

    template_fields: Sequence[str] = ("config", "source_conn_id", "target_conn_id", "aws_conn_id")
    template_fields_renderers = {"config": "json"}
    ui_color = "#d8e8f8"

    def __init__(
        self,
        *,
        config: OperatorConfig,
        source_conn_id: Optional[str] = None,
        target_conn_id: Optional[str] = None,
        aws_conn_id: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config
        self.source_conn_id = source_conn_id
        self.target_conn_id = target_conn_id
        self.aws_conn_id = aws_conn_id

    def load(self, kind: Type[ConfigT], config: Optional[OperatorConfig] = None) -> ConfigT:
        """The rendered config as `kind`, with the connection overrides bound into it.

        A bad config raises its own `ValidationError` / `ValueError` (the task fails with that message).
        """
        loaded = load_config(self.config if config is None else config, kind)
        bound, self._overrides = apply_connections(
            loaded,
            source_conn_id=self.source_conn_id,
            target_conn_id=self.target_conn_id,
            aws_conn_id=self.aws_conn_id,
        )
        return bound

    @contextmanager
    def connections(self) -> Iterator[None]:
        """Within the block, every data source resolves through its Airflow connection (never logged)."""
        with use_resolver(connection_resolver(getattr(self, "_overrides", {}))):
            yield
