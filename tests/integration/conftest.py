"""Real-database fixtures.

The server is ``DATABASE_URL`` when set, else the embedded default. Each run creates its
own databases on it (named ``supatenant_test_<random>``) and drops them at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import psycopg
import pytest

from supatenant import database, embedded
from tests.integration.world import World, build_world


@pytest.fixture(scope="session")
def server_url() -> str:
    return os.environ.get("DATABASE_URL") or embedded.start()


@pytest.fixture(scope="session")
def fresh_database(server_url: str) -> Iterator[Callable[[], str]]:
    """A factory of empty databases on the server, all dropped when the session ends."""
    made: list[str] = []

    def make() -> str:
        made.append(database.create_database(server_url, "supatenant_test"))
        return made[-1]

    yield make
    for url in made:
        database.drop_database(url)


@pytest.fixture(scope="session")
def migrated_database(fresh_database: Callable[[], str]) -> Callable[[], str]:
    """A factory of new databases migrated by the real ``supabase db push``."""

    def make() -> str:
        url = fresh_database()
        database.prepare(url)
        return url

    return make


@pytest.fixture(scope="session")
def db_url(migrated_database: Callable[[], str]) -> str:
    """A database migrated by the real ``supabase db push``."""
    return migrated_database()


@pytest.fixture(scope="session")
def world(db_url: str) -> World:
    with psycopg.connect(db_url) as conn:
        return build_world(conn)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(db_url) as connection:
        yield connection
