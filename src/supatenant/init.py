"""``supatenant init``: put supatenant's migrations into an app's Supabase CLI project.

The migrations go into ``supabase/migrations/`` and their inverses into
``supabase/rollbacks/``, byte for byte, next to the app's own; ``supabase/supatenant.json``
records the package version they came from, the version each migration was installed under,
and a SHA-256 of every file it wrote. ``--upgrade`` (after upgrading the package) adds the
migrations the marker lacks.

Versions: the Supabase CLI applies migrations in version order and ``db push`` refuses one
older than the last applied, so supatenant's migrations always go after the project's
newest migration file. When their own versions already sort after it (a new app, or one
whose history is older than supatenant's) they keep them. Otherwise every migration being
added gets a new version, in order, one second apart, starting at the later of the current
UTC time and one second after the project's newest version: the versions ``supabase
migration new`` would give, after anything written before (on another branch too). Each
rollback is renamed to match (``rollbacks/<installed version>_<name>.down.sql``); the
contents never change. The marker maps each original version to the installed one.

Everything is checked before anything is written, from the files alone (no database, no
Docker, no network). It refuses, and writes nothing, when:

- a file it would write is already there (it never overwrites);
- a file it wrote earlier was edited or removed (or this package ships it changed);
- a table, view, index, sequence, function or type that its migrations create is already
  created by the app's own SQL (``supabase/migrations/`` and ``supabase/schemas/``, read
  with PostgreSQL's parser): supatenant's ``create ... if not exists`` would keep the app's;
- the project's newest version is not a timestamp that a 14-digit version can follow.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supatenant import bundle
from supatenant.errors import SetupError

if TYPE_CHECKING:
    from supatenant.sqlnames import Name

MARKER = "supatenant.json"
VERSION_FORMAT = "%Y%m%d%H%M%S"  # the Supabase CLI's: 14 digits, UTC


class InitRefused(SetupError):
    """``supatenant init`` found a reason not to write; nothing was written."""


@dataclass
class Outcome:
    version: str
    written: list[Path] = field(default_factory=list)
    previous: str | None = None
    renumbered: dict[str, str] = field(default_factory=dict)
    """Original version -> installed version, for the migrations added under a new version."""


@dataclass(frozen=True)
class Shipped:
    """One of this package's migrations and its rollback, as ``init`` would install them."""

    version: str
    up_name: str
    up: bytes
    down_name: str
    down: bytes

    def files(self, installed: str) -> dict[str, bytes]:
        """Relative path under ``supabase/`` -> content, installed under version ``installed``."""
        return {
            f"migrations/{_renamed(self.up_name, installed)}": self.up,
            f"rollbacks/{_renamed(self.down_name, installed)}": self.down,
        }


def _renamed(name: str, version: str) -> str:
    return f"{version}_{name.split('_', 1)[1]}"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _version_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def marker_path(project: Path) -> Path:
    return project / "supabase" / MARKER


def read_marker(project: Path) -> dict[str, Any] | None:
    """The marker, with ``versions`` (original -> installed) filled in for a marker written
    before it recorded them (every migration then kept its version)."""
    path = marker_path(project)
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except ValueError as e:
        raise InitRefused(f"{path} is not the JSON supatenant wrote: {e}") from e
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        raise InitRefused(f"{path} is not the marker supatenant wrote")
    versions = marker.get("versions")
    if versions is None:
        kept = [rel.split("/", 1)[1] for rel in marker["files"] if rel.startswith("migrations/")]
        marker["versions"] = {_version_of(Path(name)): _version_of(Path(name)) for name in kept}
    elif not isinstance(versions, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
    ):
        raise InitRefused(f"{path} is not the marker supatenant wrote: its versions are not a mapping")
    return marker


def installed_versions(project: Path) -> dict[str, str]:
    """supatenant's migrations in ``project``: original version -> the version installed under
    (empty when not installed)."""
    marker = read_marker(project)
    return dict(marker["versions"]) if marker else {}


def shipped() -> list[Shipped]:
    """What ``init`` installs, oldest first."""
    found = []
    for migration in bundle.migrations():
        if migration.down is None:
            raise SetupError(f"this package ships no rollback for {migration.name}")
        found.append(
            Shipped(
                migration.version,
                migration.up.name,
                migration.up.read_bytes(),
                migration.down.name,
                migration.down.read_bytes(),
            )
        )
    return found


def new_versions(
    originals: list[str], project_versions: list[str], now: datetime | None = None
) -> dict[str, str]:
    """Versions for migrations ``originals`` (oldest first) that sort after every one of
    ``project_versions``: their own when they already do, else consecutive seconds from the
    later of ``now`` (UTC) and one second after the newest."""
    if not originals:
        return {}
    newest = max(project_versions, key=int, default=None)
    if newest is None or int(originals[0]) > int(newest):
        return {v: v for v in originals}
    start = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    if int(start.strftime(VERSION_FORMAT)) <= int(newest):
        try:
            start = datetime.strptime(newest, VERSION_FORMAT) + timedelta(seconds=1)
        except ValueError:
            raise InitRefused(
                f"supatenant init wrote nothing: your newest migration version {newest} is later than "
                "now but not a 14-digit timestamp (YYYYMMDDHHMMSS), so supatenant's migrations "
                "cannot be given versions after it"
            ) from None
    return {v: (start + timedelta(seconds=i)).strftime(VERSION_FORMAT) for i, v in enumerate(originals)}


def _check_installed(
    folder: Path, recorded: dict[str, str], versions: dict[str, str], ships: list[Shipped]
) -> list[str]:
    now_shipped = {
        rel: data
        for m in ships
        if m.version in versions
        for rel, data in m.files(versions[m.version]).items()
    }
    problems = []
    for rel, digest in sorted(recorded.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"supabase/{rel} was installed by supatenant and has been removed")
        elif _digest(path.read_bytes()) != digest:
            problems.append(f"supabase/{rel} was installed by supatenant and has been edited since")
        elif rel in now_shipped and _digest(now_shipped[rel]) != digest:
            problems.append(f"supabase/{rel} differs in this version of supatenant from the one installed")
    return problems


def _app_sql(folder: Path, ours: set[str]) -> list[Path]:
    """The app's own SQL files: its migrations and its declarative schemas."""
    migrations = [
        p for p in sorted((folder / "migrations").glob("*.sql")) if f"migrations/{p.name}" not in ours
    ]
    return migrations + sorted((folder / "schemas").rglob("*.sql"))


def _check_names(new: dict[str, bytes], app_sql: list[Path], project: Path) -> list[str]:
    from supatenant.sqlnames import UnreadableSql, created_names  # pglast: the `local` extra

    theirs: dict[Name, str] = {}
    problems = []
    for path in app_sql:
        source = str(path.relative_to(project))
        try:
            names = created_names(path.read_text(), source)
        except UnreadableSql as e:
            problems.append(f"{e}; its names cannot be checked against supatenant's")
            continue
        for name in names:
            theirs.setdefault(name, source)
    for rel, data in sorted(new.items()):
        for name in sorted(created_names(data.decode(), f"supatenant's {rel}")):
            if name in theirs:
                problems.append(f"{name} is created both by your {theirs[name]} and by supatenant's {rel}")
    return problems


def _project_versions(folder: Path) -> list[str]:
    """The versions of every migration file the CLI applies in ``folder/migrations``."""
    from supatenant.history import migration_files

    return [f.version for f in migration_files(folder.parent)]


def init(project: Path, *, upgrade: bool = False, now: datetime | None = None) -> Outcome:
    """Install (or, with ``upgrade``, add the new) migrations and rollbacks into ``project``,
    after its newest migration (``now``: the clock new versions start from, UTC by default)."""
    folder = project / "supabase"
    if not (folder / "config.toml").is_file():
        raise InitRefused(
            f"{project} is not a Supabase CLI project (no supabase/config.toml): "
            "create one with `npx supabase init` first"
        )
    if bundle.is_checkout(project):
        raise InitRefused(f"{project} is supatenant's own repository: its migrations are already there")
    if importlib.util.find_spec("pglast") is None:
        raise InitRefused(
            "supatenant init reads your SQL with PostgreSQL's parser (pglast), part of the `local` "
            "extra: pip install 'supatenant[local]'"
        )
    marker = read_marker(project)
    if marker is not None and not upgrade:
        raise InitRefused(
            f"supatenant {marker.get('version')} is already installed in {project}; after upgrading "
            "the package, `supatenant init --upgrade` adds its new migrations"
        )
    if marker is None and upgrade:
        raise InitRefused(f"supatenant is not installed in {project} yet: run `supatenant init`")
    recorded: dict[str, str] = dict(marker["files"]) if marker else {}
    versions: dict[str, str] = dict(marker["versions"]) if marker else {}
    ships = shipped()
    adding = [m for m in ships if m.version not in versions]
    chosen = new_versions([m.version for m in adding], _project_versions(folder), now)
    new = {rel: data for m in adding for rel, data in m.files(chosen[m.version]).items()}

    problems = _check_installed(folder, recorded, versions, ships)
    problems += [
        f"supabase/{rel} is already there; supatenant never overwrites a file"
        for rel in sorted(new)
        if (folder / rel).exists()
    ]
    new_migrations = {rel: data for rel, data in new.items() if rel.startswith("migrations/")}
    problems += _check_names(new_migrations, _app_sql(folder, set(recorded) | set(new_migrations)), project)
    if problems:
        raise InitRefused("supatenant init wrote nothing:\n" + "\n".join(f"  - {p}" for p in problems))

    outcome = Outcome(
        bundle.version(),
        previous=marker.get("version") if marker else None,
        renumbered={v: n for v, n in chosen.items() if v != n},
    )
    for rel, data in sorted(new.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as f:  # never overwrite, even a file that appeared meanwhile
            f.write(data)
        outcome.written.append(path)
        recorded[rel] = _digest(data)
    versions.update(chosen)
    _write_marker(
        project,
        {
            "version": outcome.version,
            "versions": dict(sorted(versions.items())),
            "files": dict(sorted(recorded.items())),
        },
    )
    return outcome


def _write_marker(project: Path, marker: dict[str, Any]) -> None:
    path = marker_path(project)
    scratch = path.with_suffix(".json.tmp")
    note = (
        "written by `supatenant init`: the version each of supatenant's migrations was installed "
        "under (its own -> in this project) and the digests of the files it wrote; do not edit"
    )
    scratch.write_text(json.dumps({"note": note, **marker}, indent=2) + "\n")
    os.replace(scratch, path)


def pending(project: Path) -> list[str]:
    """supatenant migrations this package ships that ``project`` lacks; empty when not installed
    (or when ``project`` is supatenant's repository)."""
    if bundle.is_checkout(project):
        return []
    marker = read_marker(project)
    if marker is None:
        return []
    return [m.up.name for m in bundle.migrations() if m.version not in marker["versions"]]
