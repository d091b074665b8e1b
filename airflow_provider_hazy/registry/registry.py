"""`Registry`: generators, their versions (draft or active) and model files, one class for every interface.

Rules (each enforced in one transaction, so a refused call changes nothing):
- a generator has a unique name, a description and teams; a caller outside its teams is refused
  (`AccessDenied`); a generator without teams is open to every authenticated caller;
- a version holds one or more model files, each addressed by (synthesiser, epsilon) within it;
- at most one version per generator is active: `activate` locks the generator's row, demotes the active
  version to draft and promotes the new one; a partial unique index backs the rule in the database;
- `draft` withdraws a version: generation never sees a draft version;
- models of an active version are frozen (make it draft to upload into it);
- an upload is checked by the model loader before anything is written (`ModelRejected`);
- the bytes go to the store under their SHA-256 while the `hazy_blobs` row of that address is locked,
  and a failed upload removes its file under the same lock unless another model uses it: no orphan file.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Collection, Dict, FrozenSet, Iterable, List, Mapping, Optional, Union

import sqlalchemy as sa

from . import tables as t
from .database import open_engine, upgrade
from .introspect import introspect
from .settings import database_url, store_location, store_s3_client
from .store import ModelStore, open_store, sha256_hex

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
ModelSource = Union[bytes, str, Path]


class RegistryError(ValueError):
    """A request the registry refuses (unknown name, a rule broken, bad input): the message says which."""


class NotFound(RegistryError, LookupError):
    """No such generator, version or model."""


class AccessDenied(PermissionError):
    """The caller is not in any of the generator's teams."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: a user name and the teams the authentication says they belong to."""

    username: str
    teams: FrozenSet[str] = frozenset()

    def may_access(self, teams: Collection[str]) -> bool:
        """True when the generator has no teams or shares one with the caller."""
        return not teams or bool(self.teams & set(teams))


@dataclass
class ModelInfo:
    """One model file of a version, with what the registry read from its manifest."""

    id: int
    generator: str
    version: int
    version_status: str
    synthesiser: str
    epsilon: float
    delta: float
    processing_private: bool
    sha256: str
    size: int
    filename: str
    uploaded_at: Any
    uploaded_by: Optional[str]
    summary: Dict[str, Any]

    @property
    def scores(self) -> Dict[str, Optional[float]]:
        """The evaluation scores stored in the model (computed outside the privacy budget)."""
        return dict(self.summary.get("evaluation") or {})

    def to_dict(self, summary: bool = True) -> Dict[str, Any]:
        data = asdict(self)
        if not summary:
            data.pop("summary")
        data["uploaded_at"] = _iso(self.uploaded_at)
        return data


@dataclass
class VersionInfo:
    """A version of a generator and its model files."""

    generator: str
    number: int
    status: str
    note: str
    created_at: Any
    created_by: Optional[str]
    activated_at: Any
    models: List[ModelInfo] = field(default_factory=list)

    def to_dict(self, summary: bool = False) -> Dict[str, Any]:
        return {
            "generator": self.generator,
            "number": self.number,
            "status": self.status,
            "note": self.note,
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "activated_at": _iso(self.activated_at),
            "models": [model.to_dict(summary) for model in self.models],
        }


@dataclass
class GeneratorInfo:
    """A generator: name, description, teams, and which version is active."""

    name: str
    description: str
    teams: List[str]
    created_at: Any
    created_by: Optional[str]
    active_version: Optional[int]
    n_versions: int

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["created_at"] = _iso(self.created_at)
        return data


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _check_name(name: str, what: str = "generator name") -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise RegistryError(
            f"{what} {name!r}: use 1-200 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return name


def _read_source(source: ModelSource, filename: Optional[str]) -> tuple:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), filename or "model.hmf"
    path = Path(source)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RegistryError(f"{path}: cannot read the model file ({error.strerror})") from None
    return data, filename or path.name


def meets(scores: Mapping[str, Optional[float]], min_scores: Optional[Mapping[str, float]]) -> bool:
    """True when every minimum is met by a stored score (a missing or skipped score does not meet one)."""
    for metric, minimum in (min_scores or {}).items():
        score = scores.get(metric)
        if score is None or score < float(minimum):
            return False
    return True


class Registry:
    """The generator registry over a SQL database (metadata) and a model store (files).

    :param url: SQLAlchemy URL of the database (default: connection `hazy_registry`, see `settings`).
    :param store: a folder, an `s3://bucket/prefix`, or a store object (default: `settings`).
    :param s3_client: the boto3 client of an S3 store (default: connection `hazy_registry_store`).
    :param engine: an engine to use instead of `url` (its schema is upgraded too).

    Every method that reads or changes a generator takes `caller`: None for a trusted local user (the CLI,
    a task), else a `Caller` whose teams are checked before anything is read or written.
    """

    def __init__(
        self,
        url: Optional[Any] = None,
        store: Optional[Union[str, Path, ModelStore]] = None,
        *,
        s3_client: Optional[Any] = None,
        engine: Optional[sa.Engine] = None,
    ) -> None:
        if engine is not None:
            upgrade(engine)
            self.engine = engine
        else:
            self.engine = open_engine(database_url(url))
        if store is not None and hasattr(store, "put"):
            self.store: ModelStore = store  # type: ignore[assignment]
        else:
            location = store_location(None if store is None else str(store))
            client = s3_client
            if client is None and location.lower().startswith(("s3://", "s3a://")):
                client = store_s3_client()
            self.store = open_store(location, client)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- generators -------------------------------------------------------------------------------
    def create_generator(
        self,
        name: str,
        description: str = "",
        teams: Iterable[str] = (),
        *,
        caller: Optional[Caller] = None,
    ) -> GeneratorInfo:
        """Create a generator; a caller must belong to one of the teams given (none: open to everyone)."""
        _check_name(name)
        team_list = sorted({_check_name(team.strip(), "team name") for team in teams if team.strip()})
        if caller is not None and not caller.may_access(team_list):
            raise AccessDenied(f"user '{caller.username}' is in none of the teams {team_list}")
        with self.engine.begin() as connection:
            exists = connection.execute(sa.select(t.generators.c.id).where(t.generators.c.name == name)).first()
            if exists is not None:
                raise RegistryError(f"generator '{name}' already exists")
            generator_id = connection.execute(
                sa.insert(t.generators).values(
                    name=name,
                    description=description or "",
                    created_at=_now(),
                    created_by=caller.username if caller else None,
                )
            ).inserted_primary_key[0]
            if team_list:
                connection.execute(
                    sa.insert(t.generator_teams), [{"generator_id": generator_id, "team": team} for team in team_list]
                )
        return self.generator(name, caller=caller)

    def _teams(self, connection: sa.Connection, generator_id: int) -> List[str]:
        rows = connection.execute(
            sa.select(t.generator_teams.c.team).where(t.generator_teams.c.generator_id == generator_id)
        )
        return sorted(row.team for row in rows)

    def _generator_row(
        self, connection: sa.Connection, name: str, caller: Optional[Caller], lock: bool = False
    ) -> sa.Row:
        query = sa.select(t.generators).where(t.generators.c.name == name)
        if lock:
            query = query.with_for_update()
        row = connection.execute(query).first()
        if row is None:
            raise NotFound(f"generator '{name}' does not exist")
        if caller is not None and not caller.may_access(self._teams(connection, row.id)):
            raise AccessDenied(f"user '{caller.username}' is not in a team of generator '{name}'")
        return row

    def _generator_info(self, connection: sa.Connection, row: sa.Row) -> GeneratorInfo:
        versions = connection.execute(
            sa.select(t.versions.c.number, t.versions.c.status).where(t.versions.c.generator_id == row.id)
        ).all()
        active = [version.number for version in versions if version.status == t.ACTIVE]
        return GeneratorInfo(
            name=row.name,
            description=row.description,
            teams=self._teams(connection, row.id),
            created_at=row.created_at,
            created_by=row.created_by,
            active_version=active[0] if active else None,
            n_versions=len(versions),
        )

    def generator(self, name: str, *, caller: Optional[Caller] = None) -> GeneratorInfo:
        """One generator (NotFound, AccessDenied)."""
        with self.engine.connect() as connection:
            return self._generator_info(connection, self._generator_row(connection, name, caller))

    def generators(self, *, caller: Optional[Caller] = None) -> List[GeneratorInfo]:
        """Every generator the caller may see, by name."""
        found = []
        with self.engine.connect() as connection:
            for row in connection.execute(sa.select(t.generators).order_by(t.generators.c.name)):
                info = self._generator_info(connection, row)
                if caller is None or caller.may_access(info.teams):
                    found.append(info)
        return found

    def set_teams(self, name: str, teams: Iterable[str], *, caller: Optional[Caller] = None) -> GeneratorInfo:
        """Replace a generator's teams (a caller must stay in one of them)."""
        team_list = sorted({_check_name(team.strip(), "team name") for team in teams if team.strip()})
        if caller is not None and not caller.may_access(team_list):
            raise AccessDenied(f"user '{caller.username}' would lose access: in none of the teams {team_list}")
        with self.engine.begin() as connection:
            row = self._generator_row(connection, name, caller, lock=True)
            connection.execute(sa.delete(t.generator_teams).where(t.generator_teams.c.generator_id == row.id))
            if team_list:
                connection.execute(
                    sa.insert(t.generator_teams), [{"generator_id": row.id, "team": team} for team in team_list]
                )
        return self.generator(name, caller=caller)

    # ---- versions ---------------------------------------------------------------------------------
    def _new_version(self, connection: sa.Connection, generator_id: int, note: str, caller: Optional[Caller]) -> int:
        number = connection.execute(
            sa.select(sa.func.coalesce(sa.func.max(t.versions.c.number), 0)).where(
                t.versions.c.generator_id == generator_id
            )
        ).scalar_one()
        connection.execute(
            sa.insert(t.versions).values(
                generator_id=generator_id,
                number=int(number) + 1,
                status=t.DRAFT,
                note=note or "",
                created_at=_now(),
                created_by=caller.username if caller else None,
            )
        )
        return int(number) + 1

    def create_version(self, name: str, note: str = "", *, caller: Optional[Caller] = None) -> VersionInfo:
        """A new, empty draft version (numbered after the highest)."""
        with self.engine.begin() as connection:
            row = self._generator_row(connection, name, caller, lock=True)
            number = self._new_version(connection, row.id, note, caller)
        return self.version(name, number, caller=caller)

    def _version_row(self, connection: sa.Connection, generator: sa.Row, number: int, lock: bool = False) -> sa.Row:
        query = sa.select(t.versions).where(
            t.versions.c.generator_id == generator.id, t.versions.c.number == int(number)
        )
        if lock:
            query = query.with_for_update()
        row = connection.execute(query).first()
        if row is None:
            raise NotFound(f"generator '{generator.name}' has no version {number}")
        return row

    def _models(self, connection: sa.Connection, generator: sa.Row, version: sa.Row) -> List[ModelInfo]:
        rows = connection.execute(
            sa.select(t.models)
            .where(t.models.c.version_id == version.id)
            .order_by(t.models.c.synthesiser, t.models.c.epsilon)
        )
        return [
            ModelInfo(
                id=row.id,
                generator=generator.name,
                version=version.number,
                version_status=version.status,
                synthesiser=row.synthesiser,
                epsilon=row.epsilon,
                delta=row.delta,
                processing_private=row.processing_private,
                sha256=row.sha256,
                size=row.size,
                filename=row.filename,
                uploaded_at=row.uploaded_at,
                uploaded_by=row.uploaded_by,
                summary=row.summary,
            )
            for row in rows
        ]

    def _version_info(self, connection: sa.Connection, generator: sa.Row, version: sa.Row) -> VersionInfo:
        return VersionInfo(
            generator=generator.name,
            number=version.number,
            status=version.status,
            note=version.note,
            created_at=version.created_at,
            created_by=version.created_by,
            activated_at=version.activated_at,
            models=self._models(connection, generator, version),
        )

    def version(self, name: str, number: int, *, caller: Optional[Caller] = None) -> VersionInfo:
        """One version with its models."""
        with self.engine.connect() as connection:
            generator = self._generator_row(connection, name, caller)
            return self._version_info(connection, generator, self._version_row(connection, generator, number))

    def versions(self, name: str, *, caller: Optional[Caller] = None) -> List[VersionInfo]:
        """Every version of a generator, newest first."""
        with self.engine.connect() as connection:
            generator = self._generator_row(connection, name, caller)
            rows = connection.execute(
                sa.select(t.versions)
                .where(t.versions.c.generator_id == generator.id)
                .order_by(t.versions.c.number.desc())
            )
            return [self._version_info(connection, generator, row) for row in rows.all()]

    def active_version(self, name: str, *, caller: Optional[Caller] = None) -> Optional[VersionInfo]:
        """The active version, or None."""
        with self.engine.connect() as connection:
            generator = self._generator_row(connection, name, caller)
            row = connection.execute(
                sa.select(t.versions).where(t.versions.c.generator_id == generator.id, t.versions.c.status == t.ACTIVE)
            ).first()
            return None if row is None else self._version_info(connection, generator, row)

    def activate(self, name: str, number: int, *, caller: Optional[Caller] = None) -> VersionInfo:
        """Make a version the generator's only active one (the previously active one becomes draft)."""
        with self.engine.begin() as connection:
            generator = self._generator_row(connection, name, caller, lock=True)
            version = self._version_row(connection, generator, number, lock=True)
            n_models = connection.execute(
                sa.select(sa.func.count()).select_from(t.models).where(t.models.c.version_id == version.id)
            ).scalar_one()
            if not n_models:
                raise RegistryError(f"generator '{name}' version {number} holds no model: upload one before activating")
            connection.execute(
                sa.update(t.versions)
                .where(
                    t.versions.c.generator_id == generator.id,
                    t.versions.c.status == t.ACTIVE,
                    t.versions.c.id != version.id,
                )
                .values(status=t.DRAFT, activated_at=None)
            )
            if version.status != t.ACTIVE:
                promote = sa.update(t.versions).where(t.versions.c.id == version.id)
                connection.execute(promote.values(status=t.ACTIVE, activated_at=_now()))
        return self.version(name, number, caller=caller)

    def draft(self, name: str, number: int, *, caller: Optional[Caller] = None) -> VersionInfo:
        """Make a version draft ("make draft"): an active version is withdrawn from generation."""
        with self.engine.begin() as connection:
            generator = self._generator_row(connection, name, caller, lock=True)
            version = self._version_row(connection, generator, number, lock=True)
            connection.execute(
                sa.update(t.versions).where(t.versions.c.id == version.id).values(status=t.DRAFT, activated_at=None)
            )
        return self.version(name, number, caller=caller)

    # ---- model files ------------------------------------------------------------------------------
    def _lock_blob(self, connection: sa.Connection, sha256: str, size: int) -> None:
        """Insert the blob row unless it exists (waiting for a concurrent inserter), then lock it."""
        values = {"sha256": sha256, "size": size, "created_at": _now()}
        dialect = connection.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            insert = None
        if insert is not None:
            connection.execute(insert(t.blobs).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))
        else:
            try:
                with connection.begin_nested():
                    connection.execute(sa.insert(t.blobs).values(**values))
            except sa.exc.IntegrityError:
                pass
        connection.execute(sa.select(t.blobs.c.sha256).where(t.blobs.c.sha256 == sha256).with_for_update())

    def _release_blob(self, sha256: str, size: int) -> None:
        """Remove a stored file (and its row) that no model references, under the blob's lock."""
        with self.engine.begin() as connection:
            self._lock_blob(connection, sha256, size)
            used = connection.execute(
                sa.select(sa.func.count()).select_from(t.models).where(t.models.c.sha256 == sha256)
            ).scalar_one()
            if not used:
                self.store.delete(sha256)
                connection.execute(sa.delete(t.blobs).where(t.blobs.c.sha256 == sha256))

    def upload(
        self,
        name: str,
        source: ModelSource,
        *,
        version: Optional[int] = None,
        filename: Optional[str] = None,
        note: str = "",
        caller: Optional[Caller] = None,
    ) -> ModelInfo:
        """Add a model file to a draft version (None: a new draft version); returns the model.

        The file is checked by the model loader first (`ModelRejected` with its message); the version must
        be draft and must not hold a model with the same synthesiser and epsilon.
        """
        data, filename = _read_source(source, filename)
        summary = introspect(data, filename)
        sha256 = sha256_hex(data)
        stored = False
        try:
            with self.engine.begin() as connection:
                generator = self._generator_row(connection, name, caller, lock=True)
                if version is None:
                    number = self._new_version(connection, generator.id, note, caller)
                else:
                    number = int(version)
                row = self._version_row(connection, generator, number, lock=True)
                if row.status == t.ACTIVE:
                    raise RegistryError(
                        f"generator '{name}' version {number} is active: make it draft before changing its models"
                    )
                clash = connection.execute(
                    sa.select(t.models.c.filename).where(
                        t.models.c.version_id == row.id,
                        t.models.c.synthesiser == summary["synthesiser"],
                        t.models.c.epsilon == summary["epsilon"],
                    )
                ).first()
                if clash is not None:
                    raise RegistryError(
                        f"generator '{name}' version {number} already holds a {summary['synthesiser']} model at "
                        f"epsilon {summary['epsilon']:g} ({clash.filename}); upload it into a new version"
                    )
                self._lock_blob(connection, sha256, len(data))
                stored = True
                self.store.put(sha256, data)
                model_id = connection.execute(
                    sa.insert(t.models).values(
                        version_id=row.id,
                        sha256=sha256,
                        filename=filename,
                        size=len(data),
                        synthesiser=summary["synthesiser"],
                        epsilon=summary["epsilon"],
                        delta=summary["delta"],
                        processing_private=summary["processing_private"],
                        summary=summary,
                        uploaded_at=_now(),
                        uploaded_by=caller.username if caller else None,
                    )
                ).inserted_primary_key[0]
        except BaseException:
            if stored:
                self._release_blob(sha256, len(data))
            raise
        return next(model for model in self.version(name, number, caller=caller).models if model.id == model_id)

    def resolve(
        self,
        name: str,
        *,
        synthesiser: Optional[str] = None,
        epsilon: Optional[float] = None,
        min_scores: Optional[Mapping[str, float]] = None,
        version: Optional[int] = None,
        caller: Optional[Caller] = None,
    ) -> ModelInfo:
        """The model addressed by (generator, synthesiser, epsilon) in the active version (or `version`).

        Unset parts default to the most private model (smallest epsilon, then delta) whose stored
        evaluation scores meet every `min_scores` minimum.
        """
        info = self.version(name, version, caller=caller) if version is not None else self.active_version(
            name, caller=caller
        )
        if info is None:
            raise NotFound(f"generator '{name}' has no active version: activate one (hazy registry activate)")
        candidates = [
            model
            for model in info.models
            if (synthesiser is None or model.synthesiser == synthesiser)
            and (epsilon is None or math.isclose(model.epsilon, float(epsilon), rel_tol=1e-9, abs_tol=1e-12))
            and meets(model.scores, min_scores)
        ]
        if not candidates:
            held = ", ".join(f"{m.synthesiser} epsilon {m.epsilon:g}" for m in info.models) or "no model"
            wanted = ", ".join(
                part
                for part in (
                    f"synthesiser {synthesiser}" if synthesiser else "",
                    f"epsilon {epsilon:g}" if epsilon is not None else "",
                    f"scores at least {dict(min_scores)}" if min_scores else "",
                )
                if part
            )
            raise NotFound(f"generator '{name}' version {info.number} has no model with {wanted} (it holds {held})")
        return min(candidates, key=lambda model: (model.epsilon, model.delta, model.synthesiser))

    def download(self, name: str, *, caller: Optional[Caller] = None, **address: Any) -> bytes:
        """The exact bytes of an addressed model (see `resolve`), checked against their SHA-256."""
        return self.store.get(self.resolve(name, caller=caller, **address).sha256)

    def fetch(
        self,
        name: str,
        cache_dir: Optional[Union[str, Path]] = None,
        *,
        caller: Optional[Caller] = None,
        **address: Any,
    ) -> Path:
        """A local path of an addressed model, cached by SHA-256 (default `$AIRFLOW_HOME/hazy_registry/cache`)."""
        from .settings import airflow_home

        model = self.resolve(name, caller=caller, **address)
        folder = Path(cache_dir) if cache_dir is not None else airflow_home() / "hazy_registry" / "cache"
        path = folder / f"{model.sha256}.hmf"
        if path.is_file() and sha256_hex(path.read_bytes()) == model.sha256:
            return path
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{id(self)}.part")
        temporary.write_bytes(self.store.get(model.sha256))
        temporary.replace(path)
        return path

    def model_bytes(self, name: str, sha256: str, *, caller: Optional[Caller] = None) -> bytes:
        """The bytes of one model file of a generator, by its SHA-256 (any version)."""
        with self.engine.connect() as connection:
            generator = self._generator_row(connection, name, caller)
            found = connection.execute(
                sa.select(t.models.c.id)
                .join(t.versions, t.versions.c.id == t.models.c.version_id)
                .where(t.versions.c.generator_id == generator.id, t.models.c.sha256 == sha256)
            ).first()
        if found is None:
            raise NotFound(f"generator '{name}' holds no model file {sha256}")
        return self.store.get(sha256)

    # ---- integrity --------------------------------------------------------------------------------
    def check(self) -> Dict[str, List[str]]:
        """Store and database agree: files without a row, rows without a file, rows no model uses."""
        with self.engine.connect() as connection:
            blob_rows = {row.sha256 for row in connection.execute(sa.select(t.blobs.c.sha256))}
            used = {row.sha256 for row in connection.execute(sa.select(t.models.c.sha256).distinct())}
        files = self.store.addresses()
        return {
            "orphan_files": sorted(files - blob_rows),
            "missing_files": sorted(blob_rows - files),
            "unused_blobs": sorted(blob_rows - used),
        }
