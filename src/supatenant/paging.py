"""Keyset pagination, shared by every backend: a page ends at a cursor, never at an offset.

A cursor is an opaque, url-safe string (it can go into a query string or a JSON body as it
is) naming a position in one list: the conversations of a tenant (by ``updated_at``, then
id) or the messages of one conversation (by ``seq``). Every list takes ``after=`` (the page
that follows, further along the list's order) and ``before=`` (the page that comes before
it); a page gives both cursors. A cursor carries a digest of its content and is validated
when read: one that was altered, cut short, or made for another list (another
conversation's messages, say) is refused with :class:`~supatenant.errors.InvalidInput`
naming the argument. The digest is not a secret, so a cursor can be forged; a forged one
only places the caller within a list that row-level security already lets them read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeAlias, TypeVar
from uuid import UUID

from pydantic import BaseModel

from supatenant._edge import invalid
from supatenant.errors import FieldError, InvalidInput
from supatenant.ops import AllOf, AnyOf, Cmp, Order

M = TypeVar("M", bound=BaseModel)

Cursor: TypeAlias = str  # an opaque position in a list, from Page.next / Page.previous / Thread.next
Kind = Literal["conversations", "messages"]

_VERSION = 1
_KINDS: dict[str, str] = {"conversations": "c", "messages": "m"}
_KEYS = {"conversations": "updated_at", "messages": "seq"}
MAX_CURSOR = 200  # characters: a real cursor is about 125
_DIGEST = 8
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")
_MAX_SEQ = 2**63 - 1


@dataclass(frozen=True)
class Position:
    """What a cursor names: a row's sort key and id in one list (``within``: the conversation
    whose messages are listed)."""

    kind: Kind
    at: datetime | int
    id: UUID
    within: UUID | None = None


@dataclass(frozen=True)
class Page(Generic[M]):
    """Rows of a list in its order, and where to go from them.

    ``next``: pass as ``after=`` for the rows that follow (None when none do); ``previous``:
    pass as ``before=`` for the rows that come before this page (None on the first page).
    """

    items: list[M]
    next: Cursor | None
    previous: Cursor | None = None
    total: int | None = None  # how many rows match in all, when asked for

    @property
    def has_more(self) -> bool:
        """Whether rows follow this page (``next`` then leads to them)."""
        return self.next is not None


def write_cursor(position: Position) -> Cursor:
    at = position.at.isoformat() if isinstance(position.at, datetime) else position.at
    body: list[Any] = [_VERSION, _KINDS[position.kind], at, position.id.hex]
    if position.within is not None:
        body.append(position.within.hex)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(_digest(raw) + raw).rstrip(b"=").decode("ascii")


def _digest(raw: bytes) -> bytes:
    # not a secret: it makes any change to a cursor (a character altered, one cut off) evident
    return hashlib.blake2b(raw, digest_size=_DIGEST, person=b"supatenant-cur").digest()


def _bad(field: str, what: str, message: str) -> InvalidInput:
    return invalid(what, [FieldError(field=field, message=message, type="cursor")])


def _decode(text: object) -> list[Any]:
    if not isinstance(text, str) or not 0 < len(text) <= MAX_CURSOR or not _URL_SAFE.fullmatch(text):
        raise ValueError("not a cursor")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise ValueError("not a cursor") from e
    digest, raw = raw[:_DIGEST], raw[_DIGEST:]
    # the encoding is canonical (no spare bits set in the last character) and the digest agrees
    if base64.urlsafe_b64encode(digest + raw).rstrip(b"=").decode() != text or digest != _digest(raw):
        raise ValueError("not a cursor")
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise ValueError("not a cursor") from e
    if not isinstance(body, list) or len(body) not in (4, 5) or body[0] != _VERSION:
        raise ValueError("not a cursor")
    return body


def _key(kind: Kind, value: object) -> datetime | int:
    if kind == "messages":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SEQ:
            raise ValueError("not a cursor")
        return value
    if not isinstance(value, str):
        raise ValueError("not a cursor")
    at = datetime.fromisoformat(value)
    if at.tzinfo is None:
        raise ValueError("not a cursor")
    return at.astimezone(UTC)  # any offset Python reads, as one PostgreSQL reads too


def read_cursor(text: Cursor, *, kind: Kind, within: UUID | None, field: str, what: str) -> Position:
    """The position ``text`` names in the list ``kind`` (of conversation ``within``), or
    InvalidInput naming ``field`` when it is not a cursor of that list."""
    try:
        body = _decode(text)
        if body[1] != _KINDS[kind]:
            raise _bad(field, what, f"a cursor of another list, not of {kind}")
        named = UUID(hex=body[4]) if len(body) == 5 and isinstance(body[4], str) else None
        if named != within:
            raise _bad(field, what, "a cursor of another conversation's messages")
        if not isinstance(body[3], str):
            raise ValueError("not a cursor")
        return Position(kind, _key(kind, body[2]), UUID(hex=body[3]), within)
    except ValueError as e:
        raise _bad(field, what, "not a cursor (altered, cut short, or not one of supatenant's)") from e


def newest_first(column: str) -> tuple[Order, ...]:
    return (Order(column, descending=True), Order("id", descending=True))


def oldest_first(column: str) -> tuple[Order, ...]:
    return (Order(column), Order("id"))


def _value(at: datetime | int) -> str | int:
    return at.isoformat() if isinstance(at, datetime) else at


def _beyond(column: str, position: Position, op: Literal["lt", "gt"]) -> AnyOf:
    at = _value(position.at)
    return AnyOf((Cmp(column, op, at), AllOf((Cmp(column, "eq", at), Cmp("id", op, str(position.id))))))


def older_than(column: str, position: Position) -> AnyOf:
    """Rows after ``position`` in newest-first order: (column, id) < (position.at, position.id)."""
    return _beyond(column, position, "lt")


def newer_than(column: str, position: Position) -> AnyOf:
    """Rows before ``position`` in newest-first order: (column, id) > (position.at, position.id)."""
    return _beyond(column, position, "gt")


@dataclass(frozen=True)
class Start:
    """Where a page starts: the rows' condition, the order they are fetched in, whether it
    goes on from a cursor, and whether it is fetched backwards (``before``)."""

    where: tuple[AnyOf, ...]
    order: tuple[Order, ...]
    from_cursor: bool = False
    backwards: bool = False


@dataclass(frozen=True)
class Keyset:
    """One newest-first list (``kind``, of conversation ``within``), paged from a cursor."""

    kind: Kind
    within: UUID | None = None

    @property
    def column(self) -> str:
        return _KEYS[self.kind]

    def start(self, after: Cursor | None, before: Cursor | None, what: str) -> Start:
        """Where a page starts: from the top, after the ``after`` cursor's row, or (fetched
        backwards) before the ``before`` cursor's row."""
        if after is not None and before is not None:
            raise _bad("before", what, "give after or before, not both")
        if before is not None:
            at = read_cursor(before, kind=self.kind, within=self.within, field="before", what=what)
            return Start((newer_than(self.column, at),), oldest_first(self.column), True, True)
        if after is not None:
            at = read_cursor(after, kind=self.kind, within=self.within, field="after", what=what)
            return Start((older_than(self.column, at),), newest_first(self.column), True)
        return Start((), newest_first(self.column))

    def cursor(self, row: BaseModel) -> Cursor:
        key = row.model_dump(include={self.column, "id"})
        return write_cursor(Position(self.kind, key[self.column], key["id"], self.within))

    def page(
        self,
        rows: list[dict[str, Any]],
        model: type[M],
        limit: int,
        start: Start,
        total: int | None = None,
    ) -> Page[M]:
        """A page from ``limit + 1`` fetched rows: the extra row only says whether more lie
        that way. Rows fetched backwards (``before``) are turned to the list's order."""
        items = [model.model_validate(row) for row in rows[:limit]]
        if not items:
            return Page(items, None, None, total)  # nothing here to go on from
        beyond = len(rows) > limit
        if start.backwards:
            items.reverse()
            previous = self.cursor(items[0]) if beyond else None
            return Page(items, self.cursor(items[-1]), previous, total)  # the cursor's row follows
        following = self.cursor(items[-1]) if beyond else None
        previous = self.cursor(items[0]) if start.from_cursor else None
        return Page(items, following, previous, total)
