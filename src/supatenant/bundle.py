"""supatenant's own SQL: migrations, rollbacks, the plain-PostgreSQL compatibility layer, the
tiny seed preset and the pgTAP tests.

An installed wheel carries them under ``supatenant/_bundle/supabase/`` (copied there from the
repository's ``supabase/`` at build time); a checkout or an editable install reads the
repository's ``supabase/`` itself. Either way the same relative paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def root() -> Path:
    """The folder that holds supatenant's ``supabase/`` folder."""
    shipped = _PACKAGE / "_bundle"
    if (shipped / "supabase" / "migrations").is_dir():
        return shipped
    return _PACKAGE.parent.parent  # src/supatenant -> the checkout


def supabase() -> Path:
    return root() / "supabase"


def is_checkout(project: Path) -> bool:
    """True when ``project`` is the folder these files come from (the repository itself)."""
    return project.resolve() == root().resolve()


@cache
def version() -> str:
    try:
        return metadata.version("supatenant")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


@dataclass(frozen=True)
class Migration:
    """One of supatenant's migrations and the script that undoes it."""

    version: str
    up: Path
    down: Path | None

    @property
    def name(self) -> str:
        return self.up.name


def migrations() -> list[Migration]:
    """supatenant's migrations, oldest first."""
    folder = supabase()
    downs = {p.name.split("_", 1)[0]: p for p in (folder / "rollbacks").glob("*.down.sql")}
    found = sorted((folder / "migrations").glob("*.sql"))
    return [Migration(p.name.split("_", 1)[0], p, downs.get(p.name.split("_", 1)[0])) for p in found]


def compat_files() -> list[Path]:
    """The compatibility layer (``supabase/local/``) in the order it runs."""
    return sorted((supabase() / "local").glob("*.sql"))
