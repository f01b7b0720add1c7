"""``supatenant check``'s output (text, json, github annotations) and its command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from supatenant.check.findings import SEVERITIES, Finding


def as_json(findings: Sequence[Finding]) -> str:
    keys = ("rule", "severity", "file", "line", "object", "message", "fix")
    return json.dumps({"findings": [{k: getattr(f, k) for k in keys} for f in findings]}, indent=2)


def _where(f: Finding) -> str:
    if f.file:
        return f"{f.file}:{f.line}" if f.line else f.file
    return f.object or "(project)"


def as_text(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        lines.append(f"{_where(f)}: {f.severity} [{f.rule}] {f.message}")
        lines.append(f"    fix: {f.fix}")
    counts = {s: sum(1 for f in findings if f.severity == s) for s in reversed(SEVERITIES)}
    summary = ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    lines.append(
        f"{len(findings)} finding{'s' if len(findings) != 1 else ''}" + (f" ({summary})" if summary else "")
    )
    return "\n".join(lines)


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def as_github(findings: Sequence[Finding]) -> str:
    level = {"error": "error", "warning": "warning", "info": "notice"}
    lines = []
    for f in findings:
        props = [f"title={_escape(f.rule, True)}"]
        if f.file:
            props.insert(0, f"file={_escape(f.file, True)}")
            if f.line:
                props.insert(1, f"line={f.line}")
        where = "" if f.file else f"{f.object}: " if f.object else ""
        lines.append(
            f"::{level[f.severity]} {','.join(props)}::{_escape(where + f.message + ' Fix: ' + f.fix)}"
        )
    return "\n".join(lines)


FORMATS = {"text": as_text, "json": as_json, "github": as_github}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="find migration mistakes before `supabase db push`")
    p.add_argument("--project", default=".", metavar="DIR", help="the Supabase CLI project (default: here)")
    p.add_argument(
        "--database-url",
        metavar="TARGET",
        help="the database you will push to, read only: only the migrations it has not applied are reviewed",
    )
    p.add_argument("--server", metavar="URL", help="server for scratch databases (default: the embedded one)")
    p.add_argument(
        "--static-only",
        action="store_true",
        help="read the files only (the parser's rules): no scratch database, no target",
    )
    p.add_argument("--format", choices=tuple(FORMATS), default="text")
    p.add_argument(
        "--fail-on",
        choices=("error", "warning", "info"),
        default="warning",
        help="exit 1 when a finding is at least this severe (default: warning)",
    )
    p.set_defaults(run=main)


def main(args: argparse.Namespace) -> int:
    try:
        # PostgreSQL's parser (pglast) comes with the `local` extra: loaded when a check runs
        from supatenant.check.runner import STATIC, CannotRun, context, failing, run
    except ImportError as e:
        needs = "needs PostgreSQL's parser: pip install 'supatenant[local]'"
        print(f"supatenant check: {needs} ({e})", file=sys.stderr)
        return 2
    try:
        ctx = context(Path(args.project).resolve(), args.database_url, args.server)
        findings = run(ctx, STATIC if args.static_only else None)
    except CannotRun as e:
        print(f"supatenant check: {e}", file=sys.stderr)
        return 2
    out = FORMATS[args.format](findings)
    if out:
        print(out)
    return 1 if failing(findings, args.fail_on) else 0
