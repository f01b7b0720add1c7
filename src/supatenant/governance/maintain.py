"""The maintenance jobs ``supatenant maintain`` runs (pg_cron runs the same functions where it is
enabled). Each job is a SQL function taking a batch size and returning how many rows it
handled; it is called, one transaction per batch, until a batch handles nothing. Adding a
job is one line in :data:`JOBS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from psycopg import sql

from supatenant.auth import Identity
from supatenant.backends.postgres import transaction_as


@dataclass(frozen=True)
class Job:
    name: str
    function: str  # a public function (p_batch_size integer) returning the rows it handled
    batched: bool = True  # False: a function called once with its own defaults, as pg_cron does


JOBS: tuple[Job, ...] = (
    Job("retention", "apply_retention"),
    Job("stale streams", "close_stale_streams", batched=False),  # idle 10 minutes: failed
)


def run_job(
    conn: psycopg.Connection[tuple[object, ...]],
    job: Job,
    batch_size: int,
    max_batches: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Run ``job`` batch by batch as the service role, each batch its own transaction (so no
    lock outlives a batch); returns the rows handled."""
    if not job.batched:
        with transaction_as(conn, Identity.service()):
            once = conn.execute(sql.SQL("select public.{}()").format(sql.Identifier(job.function))).fetchone()
        handled = int(str(once[0])) if once and once[0] is not None else 0
        if progress is not None:
            progress(job.name, handled)
        return handled
    statement = sql.SQL("select public.{}(%s)").format(sql.Identifier(job.function))
    total = batches = 0
    while max_batches is None or batches < max_batches:
        with transaction_as(conn, Identity.service()):
            row = conn.execute(statement, (batch_size,)).fetchone()
        handled = int(str(row[0])) if row and row[0] is not None else 0
        batches += 1
        total += handled
        if progress is not None:
            progress(job.name, total)
        if handled == 0:
            break
    return total


def maintain(
    url: str,
    batch_size: int = 1000,
    max_batches: int | None = None,
    jobs: tuple[Job, ...] = JOBS,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Every job in turn until it has nothing left (or ``max_batches``); rows handled per job."""
    with psycopg.connect(url, autocommit=False) as conn:
        return {job.name: run_job(conn, job, batch_size, max_batches, progress) for job in jobs}
