"""Cursors on the wire: url-safe strings that name a position in one list, refused when
altered, cut short or brought to another list."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supatenant.errors import InvalidInput
from supatenant.paging import MAX_CURSOR, Keyset, Position, read_cursor, write_cursor

CONV = uuid.uuid4()

positions = st.one_of(
    st.builds(
        Position,
        st.just("conversations"),
        st.datetimes(timezones=st.just(UTC)),
        st.uuids(),
    ),
    st.builds(Position, st.just("messages"), st.integers(0, 2**63 - 1), st.uuids(), st.just(CONV)),
)


def read(text: str, position: Position) -> Position:
    return read_cursor(text, kind=position.kind, within=position.within, field="after", what="list")


@given(positions)
def test_a_cursor_is_url_safe_and_names_its_position(position: Position) -> None:
    text = write_cursor(position)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", text)
    assert len(text) <= MAX_CURSOR
    assert read(text, position) == position


@given(positions, st.data())
def test_any_altered_character_is_refused(position: Position, data: st.DataObject) -> None:
    text = write_cursor(position)
    at = data.draw(st.integers(0, len(text) - 1))
    other = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    altered = text[:at] + other + text[at + 1 :]
    if altered == text:
        return
    with pytest.raises(InvalidInput, match="not a cursor") as refused:
        read(altered, position)
    [detail] = refused.value.details
    assert (detail["field"], detail["type"]) == ("after", "cursor")


@given(positions, st.data())
def test_a_cut_or_lengthened_cursor_is_refused(position: Position, data: st.DataObject) -> None:
    text = write_cursor(position)
    cut = text[: data.draw(st.integers(0, len(text) - 1))]
    with pytest.raises(InvalidInput):
        read(cut, position)
    with pytest.raises(InvalidInput):
        read(text + data.draw(st.text("Aa0-_", min_size=1, max_size=3)), position)


@given(st.one_of(st.text(max_size=300), st.binary(max_size=50).map(lambda b: b.hex())))
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        read_cursor(text, kind="messages", within=CONV, field="before", what="list")


def test_a_cursor_belongs_to_its_list() -> None:
    of_messages = write_cursor(Position("messages", 7, uuid.uuid4(), CONV))
    with pytest.raises(InvalidInput, match="another conversation"):
        read_cursor(of_messages, kind="messages", within=uuid.uuid4(), field="after", what="list")
    with pytest.raises(InvalidInput, match="another list"):
        read_cursor(of_messages, kind="conversations", within=None, field="after", what="list")
    of_conversations = write_cursor(Position("conversations", datetime.now(UTC), uuid.uuid4()))
    with pytest.raises(InvalidInput, match="another list"):
        read_cursor(of_conversations, kind="messages", within=CONV, field="after", what="list")


def test_a_page_goes_one_way_at_a_time() -> None:
    cursor = write_cursor(Position("messages", 7, uuid.uuid4(), CONV))
    with pytest.raises(InvalidInput, match="not both") as refused:
        Keyset("messages", CONV).start(cursor, cursor, "list")
    assert refused.value.details[0]["field"] == "before"
