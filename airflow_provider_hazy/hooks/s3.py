"""`HazyS3Hook`: an Airflow `aws` connection -> a boto3 S3 client (AWS or any S3-compatible endpoint)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from airflow.sdk import BaseHook

from ..io.s3 import make_s3_client, s3_source_url
from ..io.sources import mask_url, scrub

S3_CONN_TYPE = "hazy_s3"
S3_CONN_TYPES = ("aws", "s3", S3_CONN_TYPE)


def _extra(extra: Mapping[str, Any], conn_type: str, name: str) -> Any:
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{conn_type}__{name}")
    return None if value == "" else value


def connection_s3_settings(connection: Any) -> Dict[str, Any]:
    """Keys, region and endpoint of an `aws` connection (secrets included: never log this dict).

    login/password are the access key id and secret (else extra `aws_access_key_id` /
    `aws_secret_access_key`, else boto3's default chain); extra `region_name`, `endpoint_url` (or
    `service_config.s3.endpoint_url`, as the amazon provider stores it) and `aws_session_token`.
    """
    conn_type = (connection.conn_type or "").lower()
    extra = connection.extra_dejson or {}
    service_endpoint = ((extra.get("service_config") or {}).get("s3") or {}).get("endpoint_url")
    return {
        "access_key": connection.login or _extra(extra, conn_type, "aws_access_key_id"),
        "secret_key": connection.password or _extra(extra, conn_type, "aws_secret_access_key"),
        "session_token": _extra(extra, conn_type, "aws_session_token"),
        "region_name": _extra(extra, conn_type, "region_name"),
        "endpoint_url": service_endpoint or _extra(extra, conn_type, "endpoint_url") or _url_host(connection.host),
    }


class HazyS3Hook(BaseHook):
    """A boto3 S3 client from an Airflow `aws` connection (login/password as keys, extra region and endpoint).

    Also accepts connections of type `hazy_s3` (registered by this provider, with the same fields) and
    `s3`. Without keys in the connection, boto3's default chain applies (environment, instance role).
    """

    conn_name_attr = "aws_conn_id"
    default_conn_name = "aws_default"
    conn_type = S3_CONN_TYPE
    hook_name = "Hazy S3 (boto3)"

    def __init__(
        self,
        aws_conn_id: str = default_conn_name,
        *,
        region_name: Optional[str] = None,
        endpoint_url: Optional[str] = None,
    ) -> None:
        super().__init__()
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.endpoint_url = endpoint_url
        self._connection: Any = None
        self._client: Any = None

    @property
    def connection(self) -> Any:
        """The Airflow connection (fetched once)."""
        if self._connection is None:
            self._connection = self.get_connection(self.aws_conn_id)
        return self._connection

    def _settings(self) -> Dict[str, Any]:
        settings = connection_s3_settings(self.connection)
        if self.region_name:
            settings["region_name"] = self.region_name
        if self.endpoint_url:
            settings["endpoint_url"] = self.endpoint_url
        return settings

    def get_client(self) -> Any:
        """A boto3 S3 client (built once per hook)."""
        if self._client is None:
            settings = self._settings()
            try:
                self._client = make_s3_client(**settings)
            except Exception as error:  # noqa: BLE001 - the message must not carry the secret key
                secrets = [s for s in (settings.get("secret_key"), settings.get("session_token")) if s]
                raise ValueError(
                    f"connection '{self.aws_conn_id}': cannot build an S3 client "
                    f"({type(error).__name__}: {scrub(str(error), secrets)})"
                ) from None
            self.log.info(
                "connection '%s': S3 client for %s",
                self.aws_conn_id,
                mask_url(settings.get("endpoint_url") or "AWS"),
            )
        return self._client

    def get_conn(self) -> Any:
        """The client (Airflow's generic accessor)."""
        return self.get_client()

    def get_url(self) -> str:
        """The connection as a Hazy S3 data-source URL (holds the secret key: mask it for any message)."""
        return s3_source_url(**self._settings())

    def test_connection(self) -> Tuple[bool, str]:
        """List buckets (Airflow's "Test" button); the message never holds the secret key."""
        try:
            self.get_client().list_buckets()
        except Exception as error:  # noqa: BLE001 - reported, not raised
            settings = self._settings()
            secrets = [s for s in (settings.get("secret_key"), settings.get("session_token")) if s]
            return False, scrub(f"{type(error).__name__}: {error}", secrets)
        return True, "Connection successfully tested"


def _url_host(host: Optional[str]) -> Optional[str]:
    """A connection host that is a full endpoint URL (`http://minio:9000`), else None."""
    return host if host and "://" in host else None
