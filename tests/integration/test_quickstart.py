"""The README's main command runs examples/quickstart.py; it must work and show what it claims."""

from __future__ import annotations

import subprocess
import sys

import psycopg

from supatenant.project import project_dir


def test_quickstart_shows_the_whole_flow_and_cleans_up(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        before = conn.execute("select count(*) from tenants").fetchone()
    result = subprocess.run(
        [sys.executable, str(project_dir() / "examples" / "quickstart.py"), db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("member ") for line in lines) == 3
    assert "thread   'Refund question': 2 messages" in lines
    assert "today    2 requests, 70 tokens, $0.000840 (bob)" in lines
    assert "feedback 1 up, 0 down on the answer" in lines
    assert any(line.startswith("refused  Globex reading Acme's thread") for line in lines)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from tenants").fetchone() == before
