"""``supatenant init``: put supatenant's migrations into an app's Supabase CLI project.

The migrations go into ``supabase/migrations/`` and their inverses into
``supabase/rollbacks/``, unchanged, next to the app's own; ``supabase/supatenant.json``
records the package version they came from and a SHA-256 of every file it wrote.
``--upgrade`` (after upgrading the package) adds the migrations the marker lacks.

Everything is checked before anything is written, from the files alone (no database, no
Docker, no network). It refuses, and writes nothing, when:

- a file it would write is already there (it never overwrites);
- a file it wrote earlier was edited or removed (or this package ships it changed);
- one of its migrations has the version of one of the app's, or sorts before the app's
  newest: the CLI applies migrations in version order and ``db push`` refuses to apply one
  older than the last applied;
- a table, view, index, sequence, function or type that its migrations create is already
  created by the app's own SQL (``supabase/migrations/`` and ``supabase/schemas/``, read
  with PostgreSQL's parser): supatenant's ``create ... if not exists`` would keep the app's.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from supatenant import bundle
from supatenant.errors import SetupError

if TYPE_CHECKING:
    from supatenant.sqlnames import Name

MARKER = "supatenant.json"


class InitRefused(SetupError):
    """``supatenant init`` found a reason not to write; nothing was written."""


@dataclass
class Outcome:
    version: str
    written: list[Path] = field(default_factory=list)
    previous: str | None = None


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _version_of(path: Path) -> str:
    return path.name.split("_", 1)[0]


def marker_path(project: Path) -> Path:
    return project / "supabase" / MARKER


def read_marker(project: Path) -> dict[str, Any] | None:
    path = marker_path(project)
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text())
    except ValueError as e:
        raise InitRefused(f"{path} is not the JSON supatenant wrote: {e}") from e
    if not isinstance(marker, dict) or not isinstance(marker.get("files"), dict):
        raise InitRefused(f"{path} is not the marker supatenant wrote")
    return marker


def shipped_files() -> dict[str, bytes]:
    """What ``init`` installs: relative path under ``supabase/`` -> content."""
    files: dict[str, bytes] = {}
    for migration in bundle.migrations():
        files[f"migrations/{migration.up.name}"] = migration.up.read_bytes()
        if migration.down is None:
            raise SetupError(f"this package ships no rollback for {migration.name}")
        files[f"rollbacks/{migration.down.name}"] = migration.down.read_bytes()
    return files


def _check_installed(folder: Path, recorded: dict[str, str], shipped: dict[str, bytes]) -> list[str]:
    problems = []
    for rel, digest in sorted(recorded.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"supabase/{rel} was installed by supatenant and has been removed")
        elif _digest(path.read_bytes()) != digest:
            problems.append(f"supabase/{rel} was installed by supatenant and has been edited since")
        elif rel in shipped and _digest(shipped[rel]) != digest:
            problems.append(f"supabase/{rel} differs in this version of supatenant from the one installed")
    return problems


def _check_versions(new: list[str], theirs: list[Path]) -> list[str]:
    problems = []
    by_version = {_version_of(p): p.name for p in theirs}
    newest = max(by_version, default="")
    for rel in new:
        version, name = _version_of(Path(rel)), Path(rel).name
        if version in by_version:
            problems.append(f"supatenant's {name} has the version of your {by_version[version]}")
        elif version < newest:
            problems.append(
                f"supatenant's {name} sorts before your {by_version[newest]}, which may be applied "
                "already: the Supabase CLI applies migrations in version order and refuses to push "
                "one older than the last applied"
            )
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


def init(project: Path, *, upgrade: bool = False) -> Outcome:
    """Install (or, with ``upgrade``, add the new) migrations and rollbacks into ``project``."""
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
    shipped = shipped_files()
    new = {rel: data for rel, data in shipped.items() if rel not in recorded}

    problems = _check_installed(folder, recorded, shipped)
    problems += [
        f"supabase/{rel} is already there; supatenant never overwrites a file"
        for rel in sorted(new)
        if (folder / rel).exists()
    ]
    ours = set(recorded)
    theirs = [p for p in sorted((folder / "migrations").glob("*.sql")) if f"migrations/{p.name}" not in ours]
    theirs = [p for p in theirs if f"migrations/{p.name}" not in new]
    new_migrations = {rel: data for rel, data in new.items() if rel.startswith("migrations/")}
    problems += _check_versions(sorted(new_migrations), theirs)
    problems += _check_names(new_migrations, _app_sql(folder, ours | set(new_migrations)), project)
    if problems:
        raise InitRefused("supatenant init wrote nothing:\n" + "\n".join(f"  - {p}" for p in problems))

    outcome = Outcome(bundle.version(), previous=marker.get("version") if marker else None)
    for rel, data in sorted(new.items()):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as f:  # never overwrite, even a file that appeared meanwhile
            f.write(data)
        outcome.written.append(path)
        recorded[rel] = _digest(data)
    _write_marker(project, {"version": outcome.version, "files": dict(sorted(recorded.items()))})
    return outcome


def _write_marker(project: Path, marker: dict[str, Any]) -> None:
    path = marker_path(project)
    scratch = path.with_suffix(".json.tmp")
    note = "written by `supatenant init`: the files it installed and their digests; do not edit"
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
    return [m.up.name for m in bundle.migrations() if f"migrations/{m.up.name}" not in marker["files"]]
