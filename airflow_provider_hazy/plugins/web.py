"""The registry's pages and JSON endpoints: a FastAPI app the plugin mounts on Airflow's api-server.

Every endpoint depends on Airflow's own authentication (`airflow.api_fastapi.core_api.security.get_user`:
the api-server's auth manager reads the JWT from the `Authorization: Bearer` header or the UI's session
cookie): no token -> 401, an invalid one -> 403. The user's teams (from the auth manager, e.g. the
SimpleAuthManager's `user:role:team1|team2` in multi-team mode) go to the `Registry` as a `Caller`, which
refuses a generator outside them (403) before anything is read or written. Form posts must come from this
site (the `Origin` header, when sent, must match the host): a cross-site form cannot act for a user.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated, Any, Callable, Dict, List, Optional
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..registry import AccessDenied, Caller, ModelRejected, NotFound, Registry, RegistryError
from ..registry.cli import privacy_line
from ..registry.store import StoreError
from . import charts

TEMPLATES = Environment(
    loader=FileSystemLoader(str(Path(__file__).parent / "templates")), autoescape=select_autoescape(["html"])
)


async def current_caller(request: Request) -> Caller:
    """The authenticated Airflow user as a registry `Caller` (401 without a token)."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    user = await get_user(request, None, await bearer_scheme(request))
    teams = frozenset(str(team) for team in (getattr(user, "teams", None) or []))
    return Caller(username=str(user.get_name()), teams=teams)


CallerDep = Annotated[Caller, Depends(current_caller)]
UploadsField = Annotated[List[UploadFile], File()]


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def _same_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(status_code=403, detail=f"cross-site request from {origin} refused")


def _login_url(request: Request) -> Optional[str]:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # noqa: BLE001 - a login link is a convenience
        return None


def dag_snippet(name: str) -> str:
    """The Python a DAG needs to generate from generator `name`."""
    return (
        "from airflow_provider_hazy.operators import HazyGenerateOperator\n\n"
        f"generate = HazyGenerateOperator(\n"
        f'    task_id="generate_{name.replace("-", "_").replace(".", "_")}",\n'
        '    config="generation.yaml",  # data_output and data_sources; no model path\n'
        f'    generator="{name}",  # the active version\'s most private model\n'
        '    target_conn_id="my_target_db",\n'
        ")"
    )


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
        _root(request) + "/api/"
    )


def create_app(registry_factory: Optional[Callable[[], Registry]] = None) -> FastAPI:
    """The registry app; `registry_factory` builds the `Registry` on first use (default: `plugin_registry`)."""
    app = FastAPI(title="Hazy generator registry", docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    opened: Dict[str, Registry] = {}

    def registry() -> Registry:
        with lock:
            if "registry" not in opened:
                opened["registry"] = (registry_factory or plugin_registry)()
            return opened["registry"]

    def page(request: Request, template: str, caller: Optional[Caller], status: int = 200, **values: Any) -> Any:
        body = TEMPLATES.get_template(template).render(root=_root(request), caller=caller, **values)
        return HTMLResponse(body, status_code=status)

    def error(request: Request, status: int, heading: str, message: str) -> Response:
        if _wants_html(request):
            login = _login_url(request) if status == 401 else None
            return page(request, "message.html", None, status, heading=heading, message=message, login_url=login)
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        heading = {401: "Log in first", 403: "Forbidden"}.get(exc.status_code, "Error")
        return error(request, exc.status_code, heading, str(exc.detail))

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        return error(request, 403, "Forbidden", str(exc))

    @app.exception_handler(NotFound)
    async def _missing(request: Request, exc: NotFound) -> Response:
        return error(request, 404, "Not found", str(exc))

    @app.exception_handler(RegistryError)
    async def _refused(request: Request, exc: RegistryError) -> Response:
        return error(request, 400, "Refused", str(exc))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        return error(request, 500, "Model store error", str(exc))

    def back_to(request: Request, path: str) -> RedirectResponse:
        return RedirectResponse(_root(request) + path, status_code=303)

    # ---- pages -------------------------------------------------------------------------------------
    @app.get("/")
    def index(request: Request, caller: CallerDep) -> RedirectResponse:
        return back_to(request, "/generators")

    @app.get("/generators", response_class=HTMLResponse)
    def generator_list(request: Request, caller: CallerDep) -> Any:
        return page(request, "generators.html", caller, generators=registry().generators(caller=caller))

    @app.post("/generators")
    def generator_create(
        request: Request,
        name: Annotated[str, Form()],
        caller: CallerDep,
        description: Annotated[str, Form()] = "",
        teams: Annotated[str, Form()] = "",
    ) -> RedirectResponse:
        _same_origin(request)
        registry().create_generator(name.strip(), description, teams.split(","), caller=caller)
        return back_to(request, "/generators")

    @app.get("/generators/{name}", response_class=HTMLResponse)
    def generator_overview(request: Request, name: str, caller: CallerDep) -> Any:
        opened = registry()
        generator = opened.generator(name, caller=caller)
        active = opened.active_version(name, caller=caller)
        default = opened.resolve(name, caller=caller) if active and active.models else None
        return page(
            request,
            "overview.html",
            caller,
            generator=generator,
            tab="overview",
            active=active,
            default=default,
            privacy_line=_privacy_text(default) if default else "",
            ledger=ledger_rows(default) if default else [],
            samples=sample_tables(default) if default else {},
            dag_snippet=dag_snippet(name),
            cli_snippet=f"hazy registry download {name} -o {name}.hmf   # the same model, from the command line",
        )

    @app.get("/generators/{name}/versions", response_class=HTMLResponse)
    def version_list(request: Request, name: str, caller: CallerDep) -> Any:
        opened = registry()
        generator = opened.generator(name, caller=caller)
        versions = opened.versions(name, caller=caller)
        return page(request, "versions.html", caller, generator=generator, tab="versions", versions=versions)

    @app.post("/generators/{name}/versions")
    def version_create(
        request: Request, name: str, caller: CallerDep, note: Annotated[str, Form()] = ""
    ) -> RedirectResponse:
        _same_origin(request)
        registry().create_version(name, note, caller=caller)
        return back_to(request, f"/generators/{quote(name)}/versions")

    @app.post("/generators/{name}/versions/{number}/upload")
    def version_upload(
        request: Request,
        name: str,
        number: int,
        files: UploadsField,
        caller: CallerDep,
    ) -> RedirectResponse:
        _same_origin(request)
        from ..registry.introspect import introspect

        opened = registry()
        opened.version(name, number, caller=caller)  # access and existence before reading any upload
        payloads = [(upload.filename or "model.hmf", upload.file.read()) for upload in files]
        for filename, data in payloads:  # every file is checked before the first is stored
            introspect(data, filename)
        for filename, data in payloads:
            opened.upload(name, data, version=number, filename=filename, caller=caller)
        return back_to(request, f"/generators/{quote(name)}/versions")

    @app.post("/generators/{name}/versions/{number}/activate")
    def version_activate(
        request: Request, name: str, number: int, caller: CallerDep
    ) -> RedirectResponse:
        _same_origin(request)
        registry().activate(name, number, caller=caller)
        return back_to(request, f"/generators/{quote(name)}/versions")

    @app.post("/generators/{name}/versions/{number}/draft")
    def version_draft(
        request: Request, name: str, number: int, caller: CallerDep
    ) -> RedirectResponse:
        _same_origin(request)
        registry().draft(name, number, caller=caller)
        return back_to(request, f"/generators/{quote(name)}/versions")

    @app.get("/generators/{name}/metrics", response_class=HTMLResponse)
    def metrics(
        request: Request, name: str, caller: CallerDep, version: Optional[int] = None
    ) -> Any:
        opened = registry()
        generator = opened.generator(name, caller=caller)
        versions = opened.versions(name, caller=caller)
        chosen = None
        if version is not None:
            chosen = opened.version(name, version, caller=caller)
        else:
            chosen = next((v for v in versions if v.status == "active"), None) or next(
                (v for v in versions if v.models), None
            )
        values: Dict[str, Any] = {"version": chosen, "versions": versions}
        if chosen is not None:
            values["privacy_utility"] = charts.privacy_utility(
                [(m.synthesiser, m.epsilon, m.scores) for m in chosen.models]
            )
            values["score_charts"] = [charts.horizontal_bars(m.scores, "Evaluation scores") for m in chosen.models]
            values["budget_charts"] = [
                charts.horizontal_bars(
                    {name: entry.get("epsilon") for name, entry in m.summary.get("tables", {}).items()},
                    "Privacy budget by table (epsilon)",
                    maximum=None,
                )
                for m in chosen.models
            ]
        return page(request, "metrics.html", caller, generator=generator, tab="metrics", **values)

    @app.get("/generators/{name}/models/{sha256}")
    def model_download(request: Request, name: str, sha256: str, caller: CallerDep) -> Any:
        data = registry().model_bytes(name, sha256, caller=caller)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}-{sha256[:12]}.hmf"'},
        )

    # ---- JSON --------------------------------------------------------------------------------------
    @app.get("/api/generators")
    def api_generators(caller: CallerDep) -> Any:
        return [info.to_dict() for info in registry().generators(caller=caller)]

    @app.get("/api/generators/{name}")
    def api_generator(name: str, caller: CallerDep) -> Any:
        opened = registry()
        return {
            "generator": opened.generator(name, caller=caller).to_dict(),
            "versions": [version.to_dict() for version in opened.versions(name, caller=caller)],
        }

    @app.post("/api/generators/{name}/versions/{number}/activate")
    def api_activate(request: Request, name: str, number: int, caller: CallerDep) -> Any:
        _same_origin(request)
        return registry().activate(name, number, caller=caller).to_dict()

    @app.post("/api/generators/{name}/versions/{number}/draft")
    def api_draft(request: Request, name: str, number: int, caller: CallerDep) -> Any:
        _same_origin(request)
        return registry().draft(name, number, caller=caller).to_dict()

    app.state.registry = registry
    return app


def ledger_rows(model: Any) -> List[Dict[str, Any]]:
    """The model's ledger grouped by (table, purpose, mechanism): steps and total epsilon of each group."""
    groups: Dict[tuple, Dict[str, Any]] = {}
    for entry in model.summary.get("ledger") or []:
        key = (entry.get("table"), entry.get("purpose"), entry.get("mechanism"))
        group = groups.setdefault(key, {"table": key[0], "purpose": key[1], "mechanism": key[2], "steps": 0,
                                        "epsilon": 0.0})
        group["steps"] += 1
        group["epsilon"] += float(entry.get("epsilon") or 0.0)
    return list(groups.values())


def sample_tables(model: Any) -> Dict[str, Dict[str, Any]]:
    """Each table's sample rows with their columns in schema order."""
    tables = model.summary.get("tables") or {}
    found: Dict[str, Dict[str, Any]] = {}
    for name, rows in (model.summary.get("sample") or {}).items():
        if not rows:
            continue
        order = [column["name"] for column in tables.get(name, {}).get("columns", []) if column["name"] in rows[0]]
        columns = order + [key for key in rows[0] if key not in order]
        found[name] = {"columns": columns, "rows": [[row.get(column) for column in columns] for row in rows[:8]]}
    return found


def _privacy_text(model: Any) -> str:
    return f"{model.synthesiser}: {privacy_line(model)}"


def plugin_registry() -> Registry:
    """The api-server's registry: connection `hazy_registry` from Airflow's secrets (metadata database,
    environment, secrets backends), else the defaults of `registry.settings`."""
    from ..io.sources import use_resolver

    def resolver(source: Any) -> str:
        from airflow.models.connection import Connection

        from ..hooks.sql import connection_sqlalchemy_url

        connection = Connection.get_connection_from_secrets(source.connection_id)
        return connection_sqlalchemy_url(connection).render_as_string(hide_password=False)

    with use_resolver(resolver):
        return Registry()


__all__ = ["ModelRejected", "create_app", "current_caller", "dag_snippet", "plugin_registry"]
