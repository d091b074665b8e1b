"""Airflow's api-server alone, on loopback, with the registry plugin and SimpleAuthManager users in teams.

`RegistryApiServer` creates a PostgreSQL metadata database (unique name) and runs `airflow db migrate`,
writes the users' passwords file and a plugins folder holding the registry plugin, starts
`airflow api-server` on a free port in its own process group, and always stops it and drops the database.
The registry itself lives where the test says (`registry_url`, `store`), so the test can check the
database behind the pages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Mapping, Optional

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "production"))
from airflow_cluster import POSTGRES_ADMIN_URL, airflow_executable, free_port  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PLUGIN_FILE = "from airflow_provider_hazy.plugins.registry_plugin import HazyRegistryPlugin  # noqa: F401\n"


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log file)"


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # the api-server leads its own process group
    except (ProcessLookupError, PermissionError):
        pass


@dataclass
class RegistryApiServer:
    """`with RegistryApiServer(users={"alice": ("analytics", "pw")}, ...) as server: server.url ...`"""

    users: Mapping[str, tuple]  # username -> (team, password)
    registry_url: str
    store: str
    startup_timeout: float = 240.0
    home: Path = field(init=False)
    url: str = field(init=False, default="")
    database: str = field(init=False, default="")
    env: Dict[str, str] = field(init=False, default_factory=dict)
    process: Optional[subprocess.Popen] = field(init=False, default=None)

    def __enter__(self) -> RegistryApiServer:
        self.home = Path(tempfile.mkdtemp(prefix="hazy-registry-api-"))
        try:
            self._prepare()
            self._run([airflow_executable(), "db", "migrate"], "db-migrate", 300)
            for team in sorted({team for team, _ in self.users.values()}):  # multi-team mode needs them
                self._run([airflow_executable(), "teams", "create", team], f"team-{team}", 120)
            self._start()
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            print(f"----- api-server log -----\n{_tail(self.home / 'api-server.log', 80)}", file=sys.stderr)
        self._cleanup()

    def _prepare(self) -> None:
        self.database = f"hazy_airflow_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{self.database}"'))
        admin.dispose()
        metadata_url = sa.make_url(POSTGRES_ADMIN_URL).set(database=self.database).render_as_string(False)
        plugins = self.home / "plugins"
        plugins.mkdir()
        (plugins / "hazy_registry_plugin.py").write_text(PLUGIN_FILE)
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({name: password for name, (_, password) in self.users.items()}))
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "HAZY_"))}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
                "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False",
                "AIRFLOW__CORE__MULTI_TEAM": "True",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                    f"{name}:admin:{team}" for name, (team, _) in self.users.items()
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__API__SECRET_KEY": "hazy-registry-test-secret-key",
                "AIRFLOW__API_AUTH__JWT_SECRET": "hazy-registry-test-jwt-secret-0123456789",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW_CONN_HAZY_REGISTRY": self.registry_url,
                "HAZY_REGISTRY_STORE": self.store,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            }
        )
        self.env = env

    def _run(self, argv, name: str, timeout: float) -> None:
        log = self.home / f"{name}.log"
        with open(log, "ab") as stream:
            done = subprocess.run(argv, env=self.env, cwd=self.home, stdout=stream, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{name} exited {done.returncode}:\n{_tail(log)}")

    def _start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        with open(self.home / "api-server.log", "ab") as stream:
            self.process = subprocess.Popen(
                [airflow_executable(), "api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1"],
                env=self.env, cwd=self.home, stdout=stream, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = _tail(self.home / "api-server.log")
                raise RuntimeError(f"api-server exited {self.process.returncode}:\n{log}")
            try:
                with urllib.request.urlopen(self.url + "/api/v2/monitor/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(1)
        raise RuntimeError(f"api-server did not answer in {self.startup_timeout:.0f} s")

    def token(self, username: str) -> str:
        """A JWT for the user, from the auth manager's own `POST /auth/token`."""
        _, password = self.users[username]
        body = json.dumps({"username": username, "password": password}).encode()
        request = urllib.request.Request(self.url + "/auth/token", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())["access_token"]

    def _cleanup(self) -> None:
        if self.process is not None:
            _signal_group(self.process, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(self.process, 9)
        if self.database:
            admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            admin.dispose()
        if os.environ.get("HAZY_KEEP_AIRFLOW_HOME") != "1":
            shutil.rmtree(self.home, ignore_errors=True)
