"""``supatenant export`` and ``supatenant maintain``."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from supatenant.governance.plan import FORMATS


class Bar:
    """A one-line progress display on stderr (only on a terminal): rows so far, per table."""

    def __init__(self, what: str, enabled: bool | None = None) -> None:
        self.what = what
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.counts: dict[str, int] = {}
        self.started = time.monotonic()
        self._shown = 0.0

    def __call__(self, table: str, rows: int) -> None:
        self.counts[table] = rows
        now = time.monotonic()
        if self.enabled and now - self._shown >= 0.1:
            self._shown = now
            self._draw()

    def _draw(self) -> None:
        total = sum(self.counts.values())
        rate = total / max(time.monotonic() - self.started, 1e-9)
        current = next(reversed(self.counts), "")
        print(f"\r{self.what}: {total:,} rows ({current}) {rate:,.0f} rows/s ", end="", file=sys.stderr)

    def done(self) -> None:
        if self.enabled:
            self._draw()
            print(file=sys.stderr)


def export(args: argparse.Namespace) -> int:
    from supatenant import Store

    if args.member and args.conversation:
        print("supatenant: --member or --conversation, not both", file=sys.stderr)
        return 2
    url: str = args.database_url
    output = Path(args.output)
    if output.exists():
        print(f"supatenant: {output} exists: an export never overwrites, choose a new path", file=sys.stderr)
        return 2
    # written next to its place under another name, moved there whole when the export is done:
    # a refused or broken export leaves nothing behind
    partial = output.with_name(output.name + ".partial")
    try:
        with Store.connect(url, service_role=args.as_user is None, auth_user_id=args.as_user) as store:
            subject = {
                "tenant_id": args.tenant,
                "member_id": args.member,
                "conversation_id": args.conversation,
            }
            bar = Bar(f"export {args.format}")
            files = _write_export(store, args.format, subject, partial, bar)
            partial.rename(output)
            bar.done()
    finally:
        if partial.is_dir():
            shutil.rmtree(partial)
        else:
            partial.unlink(missing_ok=True)
    rows = sum(bar.counts.values())
    where = f"{files} files in {output}/" if args.format == "csv" else str(output)
    print(f"exported {rows:,} rows to {where}")
    return 0


def _write_export(store: Any, format: str, subject: dict[str, Any], path: Path, bar: Bar) -> int:
    """The export into ``path`` (a folder of one CSV file per table, or one file); returns how
    many files were written."""
    if format == "csv":
        path.mkdir(parents=True)
        files: dict[str, Path] = {}
        current = None
        handle = None
        try:
            for table, chunk in store.export.csv(**subject, progress=bar):
                if table != current:
                    if handle is not None:
                        handle.close()
                    files[table] = path / f"{table}.csv"
                    handle = files[table].open("xb")
                    current = table
                assert handle is not None
                handle.write(chunk)
        finally:
            if handle is not None:
                handle.close()
        return len(files)
    with path.open("xb") as f:
        if format == "jsonl":
            for data in store.export.jsonl(**subject, progress=bar):
                f.write(data)
        else:
            for text in store.export.markdown(**subject, progress=bar):
                f.write(text.encode())
    return 1


def maintain(args: argparse.Namespace) -> int:
    from supatenant.governance.maintain import maintain as run

    bar = Bar("maintain")
    handled = run(args.database_url, args.batch_size, args.max_batches, progress=bar)
    bar.done()
    for job, rows in handled.items():
        print(f"{job}: {rows} rows")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export`` and ``maintain`` to the command's subcommands."""
    exp = sub.add_parser(
        "export",
        help="export a tenant, a member or a conversation as JSONL, CSV per table or Markdown",
    )
    exp.add_argument("--database-url", required=True, help="PostgreSQL URL of the project's database")
    exp.add_argument("--tenant", type=UUID, required=True, help="the tenant (alone: the whole tenant)")
    exp.add_argument("--member", type=UUID, help="export this member of the tenant")
    exp.add_argument("--conversation", type=UUID, help="export this conversation of the tenant")
    exp.add_argument("--format", choices=FORMATS, default="jsonl")
    exp.add_argument("--output", required=True, help="a file (jsonl, markdown) or a directory (csv)")
    exp.add_argument(
        "--as-user",
        type=UUID,
        metavar="AUTH_ID",
        help="export as this Supabase Auth user, under their rights (default: the service role)",
    )
    exp.set_defaults(run=export)
    mnt = sub.add_parser("maintain", help="run the maintenance jobs (retention) in bounded batches")
    mnt.add_argument("--database-url", required=True, help="PostgreSQL URL of the project's database")
    mnt.add_argument("--batch-size", type=int, default=1000, help="rows per batch, one transaction each")
    mnt.add_argument("--max-batches", type=int, help="stop each job after this many batches")
    mnt.set_defaults(run=maintain)
