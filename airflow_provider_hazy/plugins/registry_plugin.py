"""`HazyRegistryPlugin`: the generator registry inside Airflow 3's UI.

Registered through the `airflow.plugins` entry point (setup.cfg). It mounts the registry's FastAPI app
(`web.create_app`) on the api-server under `/hazy-registry` and adds the navigation entry
"Synthetic generators", which shows the generators page inside Airflow's UI.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from .web import create_app

URL_PREFIX = "/hazy-registry"


class HazyRegistryPlugin(AirflowPlugin):
    """The registry's pages (list, overview, versions, metrics) and JSON endpoints."""

    name = "hazy_registry"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Hazy generator registry"}]
    external_views = [
        {
            "name": "Synthetic generators",
            "href": URL_PREFIX + "/generators",
            "destination": "nav",
            "url_route": "synthetic-generators",
        }
    ]
