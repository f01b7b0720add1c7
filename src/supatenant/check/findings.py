"""What ``supatenant check`` reports, and what every source of findings is given.

A source is a callable taking a :class:`CheckContext` and yielding :class:`Finding`s: the
static rules read the files with PostgreSQL's own parser, the scratch-database probes run
them, the target inspection reads a live database. The runner merges what they yield.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


@dataclass(frozen=True)
class Finding:
    """One problem: where it is (a file and 1-based line, or a database object) and its fix."""

    rule: str
    severity: Severity
    message: str
    fix: str
    file: str | None = None
    line: int | None = None
    object: str | None = None


@dataclass(frozen=True)
class CheckContext:
    """The Supabase CLI project under review and the databases a source may use.

    ``migrations`` are the project's migration files in the order the CLI applies them;
    ``under_review`` the ones being checked (by default those the target has not applied,
    or all of them without a target). ``server_url`` is a server where scratch databases
    may be created; ``target_url`` the live database, read only.
    """

    project: Path
    migrations: tuple[Path, ...]
    under_review: tuple[Path, ...]
    server_url: str | None = None
    target_url: str | None = None

    @property
    def rollbacks(self) -> Path:
        return self.project / "supabase" / "rollbacks"


Source = Callable[[CheckContext], Iterable[Finding]]
