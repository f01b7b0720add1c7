"""The static rules: each reads one statement (or one finished file) against the schema model.

A statement rule gets the file being reviewed, the statement and the model as it stood just
before it; a file rule gets the model after the whole file. Each yields :class:`Hit`s; the
runner turns them into findings (severity from :data:`RULES`, file and line from the
statement) unless the statement suppresses the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from supatenant.check.findings import Severity
from supatenant.check.model import Check, Model
from supatenant.check.names import Key
from supatenant.check.sqlfile import SqlFile, Statement


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    kind: str  # the class: history, execution, references, locks, rls
    summary: str


@dataclass(frozen=True)
class Hit:
    rule: str
    message: str
    fix: str
    line: int | None = None  # a file rule names the statement's line; a statement rule need not


@dataclass
class FileReview:
    """The file under review, and what the rules may ask about it."""

    sql: SqlFile
    model: Model
    exposed: tuple[str, ...]
    existing: frozenset[Key]  # relations that existed before this file
    position: int = 0  # index of the statement being checked
    touched: dict[Key, int] = field(default_factory=dict)  # relation -> line of its create/alter here
    start_checks: dict[Key, dict[str, Check]] = field(default_factory=dict)  # checks before this file

    @property
    def rel(self) -> str:
        return self.sql.rel

    @property
    def later(self) -> list[Statement]:
        return self.sql.statements[self.position + 1 :]

    @property
    def earlier(self) -> list[Statement]:
        return self.sql.statements[: self.position]


StatementRule = Callable[[FileReview, Statement], Iterable[Hit]]
FileRule = Callable[[FileReview], Iterable[Hit]]

RULES: dict[str, Rule] = {}
STATEMENT_RULES: list[StatementRule] = []
FILE_RULES: list[FileRule] = []


def rule(id: str, severity: Severity, kind: str, summary: str) -> Rule:
    r = Rule(id, severity, kind, summary)
    RULES[id] = r
    return r


def on_statement(fn: StatementRule) -> StatementRule:
    STATEMENT_RULES.append(fn)
    return fn


def on_file(fn: FileRule) -> FileRule:
    FILE_RULES.append(fn)
    return fn


def load() -> None:
    """Import every rule module, which registers its rules."""
    from supatenant.check.rules import execution, locks, references, security  # noqa: F401
