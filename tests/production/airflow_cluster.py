"""A real Airflow 3 deployment on loopback, for tests: PostgreSQL metadata database, CeleryExecutor on Redis.

`AirflowCluster` is a context manager that does what a team does in production, with nothing mocked:

1. creates a fresh PostgreSQL database (unique name) for the metadata and runs `airflow db migrate`;
2. claims an empty Redis database number for the Celery broker and a unique Celery queue;
3. starts Airflow's own `api-server`, `scheduler`, `dag-processor` and `celery worker --concurrency 2`,
   each in its own process group, on free loopback ports, with a temporary AIRFLOW_HOME, every process
   logging to a file in that directory;
4. talks to the REST API (`/api/v2`) to unpause and trigger DAGs and to read task instances;
5. always shuts down: terminates every process group, drops the database, flushes the Redis database.

When the body of the `with` block raises, the tail of every process log is printed before cleanup, so a
failed test says which component broke. The environment is in `AirflowCluster.env` and is the one the
README documents for running the DAGs this way by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get("HAZY_TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_HOST = os.environ.get("HAZY_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("HAZY_TEST_REDIS_PORT", "6379"))
# Redis database numbers the harness may claim (db 0 is left to whoever else uses this Redis).
REDIS_DB_CANDIDATES = range(15, 0, -1)
REDIS_CLAIM_KEY = "hazy-airflow-cluster-claim"

FINISHED_STATES = {"success", "failed"}
LOG_TAIL_LINES = 60


class ClusterError(RuntimeError):
    """A component of the cluster did not start, died, or did not answer in time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_executable() -> str:
    """The `airflow` command of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("airflow")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("airflow")
    if found is None:
        raise ClusterError("the `airflow` command is not installed next to this Python")
    return found


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log file)"
    return "\n".join(text[-lines:])


@dataclass
class Component:
    """One long-running Airflow process."""

    name: str
    argv: List[str]
    log_path: Path
    process: Optional[subprocess.Popen] = None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class AirflowCluster:
    """Start Airflow with the CeleryExecutor on loopback; use it as a context manager.

    `dags_folder` is the folder the dag-processor parses. `extra_env` is added to every process's
    environment (Airflow connections as AIRFLOW_CONN_<ID>, PYTHONPATH, ...).
    """

    dags_folder: Path
    extra_env: Mapping[str, str] = field(default_factory=dict)
    worker_concurrency: int = 2
    startup_timeout: float = 120.0
    home: Path = field(init=False)
    env: Dict[str, str] = field(init=False, default_factory=dict)
    api_url: str = field(init=False, default="")
    queue: str = field(init=False, default="")
    database: str = field(init=False, default="")
    redis_db: Optional[int] = field(init=False, default=None)
    components: List[Component] = field(init=False, default_factory=list)
    started_at: Optional[datetime] = field(init=False, default=None)
    _token: Optional[str] = field(init=False, default=None)

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> AirflowCluster:
        self.home = Path(tempfile.mkdtemp(prefix="hazy-airflow-cluster-"))
        try:
            self._create_database()
            self._claim_redis_db()
            self._build_env()
            self.run_cli(["db", "migrate"], log_name="db-migrate", timeout=180)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            print(self.log_tails(), file=sys.stderr)
        self._cleanup()

    def start(self) -> None:
        """Start api-server, scheduler, dag-processor and a Celery worker; wait until the API answers."""
        api_port = int(self.env["HAZY_CLUSTER_API_PORT"])
        airflow = airflow_executable()
        self.started_at = datetime.now(timezone.utc)
        self._spawn(
            "api-server", [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1"]
        )
        self._spawn("scheduler", [airflow, "scheduler"])
        self._spawn("dag-processor", [airflow, "dag-processor"])
        self._spawn(
            "celery-worker",
            [airflow, "celery", "worker", "--concurrency", str(self.worker_concurrency), "--queues", self.queue,
             "--celery-hostname", f"{self.queue}@%h", "--without-mingle", "--without-gossip"],
        )
        self.wait_for(self._api_healthy, "the api-server health endpoint", self.startup_timeout)

    # ---- setup -----------------------------------------------------------------------------------
    def _create_database(self) -> None:
        self.database = f"hazy_airflow_{uuid.uuid4().hex[:12]}"
        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{self.database}"'))
        finally:
            engine.dispose()

    def _claim_redis_db(self) -> None:
        """Take the first empty Redis database number and mark it as ours (SET NX) so parallel runs differ."""
        import redis

        claim = uuid.uuid4().hex
        for number in REDIS_DB_CANDIDATES:
            client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=number, socket_connect_timeout=3)
            try:
                if client.dbsize() == 0 and client.set(REDIS_CLAIM_KEY, claim, nx=True):
                    if client.dbsize() == 1:
                        self.redis_db = number
                        return
                    client.delete(REDIS_CLAIM_KEY)  # someone else wrote here at the same moment
            finally:
                client.close()
        raise ClusterError(f"no empty Redis database among {list(REDIS_DB_CANDIDATES)} at {REDIS_HOST}:{REDIS_PORT}")

    def _build_env(self) -> None:
        api_port = free_port()
        self.queue = f"hazy_{uuid.uuid4().hex[:10]}"
        self.api_url = f"http://127.0.0.1:{api_port}"
        admin = sa.make_url(POSTGRES_ADMIN_URL).set(database=self.database)
        metadata_url = admin.render_as_string(hide_password=False)
        # Celery's result backend takes the same SQLAlchemy URL behind `db+` (keep the explicit driver:
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3).
        backend_url = metadata_url
        dags_folder = str(self.dags_folder)
        # Nothing of the test process's own Airflow or Hazy settings leaks into the cluster.
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "HAZY_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__DAGS_FOLDER": dags_folder,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
                "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{self.redis_db}",
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{backend_url}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
                # One process publishes to Celery: no process pool on a small machine.
                "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
                "AIRFLOW__API__SECRET_KEY": "hazy-test-api-secret-key",
                "AIRFLOW__API_AUTH__JWT_SECRET": "hazy-test-jwt-secret-0123456789abcdef",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                # Parse a new DAG file within seconds, not minutes; one parsing process on 2 cores.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
                "HAZY_CLUSTER_API_PORT": str(api_port),
            }
        )
        env.update(self.extra_env)
        self.env = env

    def _spawn(self, name: str, argv: Sequence[str]) -> Component:
        log_path = self.home / f"{name}.log"
        component = Component(name=name, argv=list(argv), log_path=log_path)
        with open(log_path, "ab") as log:
            component.process = subprocess.Popen(
                component.argv, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.components.append(component)
        return component

    def run_cli(self, args: Sequence[str], log_name: str, timeout: float = 120) -> str:
        """Run one `airflow ...` command to completion with the cluster's environment; its output is logged."""
        return self.run([airflow_executable(), *args], log_name=log_name, timeout=timeout)

    def run(self, argv: Sequence[str], log_name: str, timeout: float = 120) -> str:
        """Run a command with the cluster's environment; raise with the log's tail when it fails."""
        log_path = self.home / f"{log_name}.log"
        with open(log_path, "ab") as log:
            try:
                completed = subprocess.run(
                    list(argv), env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, timeout=timeout, start_new_session=True,
                )
            except subprocess.TimeoutExpired as error:
                raise ClusterError(f"{log_name} did not finish in {timeout:.0f} s:\n{_tail(log_path)}") from error
        if completed.returncode != 0:
            raise ClusterError(f"{log_name} exited {completed.returncode}:\n{_tail(log_path)}")
        return log_path.read_text(errors="replace")

    # ---- teardown --------------------------------------------------------------------------------
    def _cleanup(self) -> None:
        self._stop_components()
        self._drop_database()
        self._flush_redis()
        if os.environ.get("HAZY_KEEP_AIRFLOW_HOME") != "1":
            shutil.rmtree(self.home, ignore_errors=True)

    def _stop_components(self, grace: float = 20.0) -> None:
        running = [c for c in self.components if c.process is not None]
        for component in running:
            _signal_group(component.process, signal.SIGTERM)
        started = time.monotonic()
        deadline = started + grace
        stopped = []
        for component in running:
            try:
                component.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                stopped.append(f"{component.name} {time.monotonic() - started:.1f} s")
            except subprocess.TimeoutExpired:
                stopped.append(f"{component.name} killed after {grace:.0f} s")
            # The group may hold children (gunicorn/uvicorn workers, celery pool, task processes).
            _signal_group(component.process, signal.SIGKILL)
            try:
                component.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if stopped:
            print(f"Airflow cluster stopped: {', '.join(stopped)}")

    def _drop_database(self) -> None:
        if not self.database:
            return
        engine = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
        finally:
            engine.dispose()

    def _flush_redis(self) -> None:
        if self.redis_db is None:
            return
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=self.redis_db, socket_connect_timeout=3)
        try:
            client.flushdb()
        finally:
            client.close()

    # ---- diagnostics -----------------------------------------------------------------------------
    def log_tails(self) -> str:
        """The last lines of every log in AIRFLOW_HOME (process logs and one-shot commands)."""
        parts = [f"===== Airflow cluster logs in {self.home} ====="]
        for path in sorted(self.home.glob("*.log")):
            parts.append(f"----- {path.name} (last {LOG_TAIL_LINES} lines) -----\n{_tail(path)}")
        return "\n".join(parts)

    def log_text(self, name: str) -> str:
        """The whole log of one component (e.g. 'celery-worker')."""
        return (self.home / f"{name}.log").read_text(errors="replace")

    def check_alive(self) -> None:
        dead = [c for c in self.components if not c.alive()]
        if dead:
            names = ", ".join(f"{c.name} (exit {c.process.returncode})" for c in dead)
            raise ClusterError(f"Airflow component(s) died: {names}")

    def wait_for(self, probe: Callable[[], Any], what: str, timeout: float, interval: float = 1.0) -> Any:
        """Poll `probe` until it returns something truthy; fail early when a component dies."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = probe()
            if result:
                return result
            if time.monotonic() > deadline:
                raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(interval)

    # ---- REST API --------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Optional[dict] = None, timeout: float = 30) -> Any:
        """Call the public REST API (`path` relative to the server root); return the decoded JSON."""
        headers = {"Accept": "application/json"}
        if self._token is None and not path.startswith("/auth/"):
            self._token = self.request("GET", "/auth/token")["access_token"]
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise ClusterError(f"{method} {path} -> HTTP {error.code}: {detail}") from error
        return json.loads(payload) if payload else None

    def _api_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.api_url + "/api/v2/monitor/health", timeout=5) as response:
                return response.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False

    def wait_for_dag(self, dag_id: str, timeout: float = 120.0) -> dict:
        """Wait until this cluster's dag-processor has parsed `dag_id` (after `start`); return the DAG.

        A DAG already in the metadata database (from a `dag.test()` run) does not count: its
        `last_parsed_time` must be later than the moment the processes were started.
        """

        def parsed() -> Optional[dict]:
            try:
                dag = self.request("GET", f"/api/v2/dags/{dag_id}")
                parsed_at = dag.get("last_parsed_time")
                if parsed_at and datetime.fromisoformat(parsed_at.replace("Z", "+00:00")) >= self.started_at:
                    return dag
            except ClusterError as error:
                if "HTTP 404" not in str(error):
                    raise
            errors = self.request("GET", "/api/v2/importErrors")
            if errors.get("total_entries"):
                raise ClusterError(f"DAG files failed to import: {json.dumps(errors['import_errors'], indent=1)}")
            return None

        return self.wait_for(parsed, f"DAG {dag_id} to be parsed", timeout, interval=2.0)

    def trigger(self, dag_id: str, conf: Mapping[str, Any], logical_date: Optional[datetime] = None) -> str:
        """Unpause `dag_id` and trigger a run with `conf`; return its dag_run_id."""
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        logical_date = logical_date or datetime.now(timezone.utc)
        run_id = f"rest__{uuid.uuid4().hex[:8]}"
        body = {"dag_run_id": run_id, "logical_date": logical_date.isoformat(), "conf": dict(conf)}
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300.0) -> dict:
        """Poll the run until it succeeds or fails; return the final DAG run."""

        def finished() -> Optional[dict]:
            run = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            return run if run["state"] in FINISHED_STATES else None

        return self.wait_for(finished, f"DAG run {dag_id}/{run_id} to finish", timeout, interval=2.0)

    def task_instances(self, dag_id: str, run_id: str) -> List[dict]:
        """Every task instance of the run, mapped ones included (one row per map_index)."""
        rows: List[dict] = []
        while True:
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(rows)}"
            page = self.request("GET", path)
            rows.extend(page["task_instances"])
            if not page["task_instances"] or len(rows) >= page["total_entries"]:
                return rows


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the process leads its own group (start_new_session=True)
    except (ProcessLookupError, PermissionError):
        pass
