"""Supabase's own checks on the migrated schema: advisors (splinter), db lint
(plpgsql_check) and the pgTAP suite in supabase/tests/database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import psycopg
import pytest

from supatenant.project import run_supabase, supabase_dir


def _findings(output: str) -> list[dict[str, Any]]:
    """The JSON array of findings the CLI prints after its banner lines."""
    start = output.find("[")
    if start < 0:
        return []
    findings: list[dict[str, Any]] = json.loads(output[start : output.rindex("]") + 1])
    return findings


def _available(url: str, extension: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select count(*) from pg_available_extensions where name = %s", (extension,)
        ).fetchone()
    return bool(row and row[0])


def test_advisors_report_nothing_at_warn_or_above(db_url: str) -> None:
    everything = run_supabase("db", "advisors", f"--remote={db_url}", "--level", "info")
    assert everything.returncode == 0, everything.stderr
    findings = _findings(everything.stdout)
    assert findings, "the advisors reported nothing at all: they did not run"  # INFO rows are expected
    serious = [f["detail"] for f in findings if f["level"] in ("WARN", "ERROR")]
    assert serious == []
    gate = run_supabase("db", "advisors", f"--remote={db_url}", "--level", "warn", "--fail-on", "warn")
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_db_lint_finds_nothing(db_url: str) -> None:
    if not _available(db_url, "plpgsql_check"):
        pytest.skip("plpgsql_check is not installed on this server (Debian: postgresql-15-plpgsql-check)")
    result = run_supabase(
        "db",
        "lint",
        f"--remote={db_url}",
        "--schema",
        "public,private",
        "--level",
        "warning",
        "--fail-on",
        "warning",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No schema errors found" in result.stdout + result.stderr


def test_pgtap_suite(db_url: str) -> None:
    if not _available(db_url, "pgtap"):
        pytest.skip("pgTAP is not installed on this server (Debian: postgresql-15-pgtap)")
    tests = str(supabase_dir() / "tests" / "database")
    result = run_supabase("test", "db", f"--remote={db_url}", "--yes", tests)
    output = result.stdout + result.stderr
    if result.returncode != 0 and "docker" in output.lower():
        # `supabase test db` runs pg_prove in a container; without Docker, run the same
        # pg_prove from Debian's packages on the same files
        pg_prove = shutil.which("pg_prove")
        if pg_prove is None:
            pytest.skip("no Docker for `supabase test db` and no pg_prove on PATH")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("create extension if not exists pgtap with schema extensions")
        files = sorted(str(p) for p in (supabase_dir() / "tests" / "database").glob("*.sql"))
        env = {**os.environ, "PGOPTIONS": "-c search_path=public,extensions"}
        proc = subprocess.run(
            [pg_prove, "--dbname", db_url, *files], capture_output=True, text=True, env=env, check=False
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
    else:
        assert result.returncode == 0, output
    assert "All tests successful" in output or "PASS" in output, output
