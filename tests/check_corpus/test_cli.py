"""``supatenant check`` on the command line: formats, exit statuses, suppressions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supatenant import cli
from tests.check_corpus import make_project

BASE = """\
create table if not exists public.tenants (id uuid primary key default gen_random_uuid(), name text not null);
alter table public.tenants enable row level security;
"""
WARNING = "create extension if not exists pg_trgm;\n"  # extension-in-public, a warning
ERROR = "begin;\nselect 1;\n"  # transaction-control, an error


def run(capsys: pytest.CaptureFixture[str], project: Path, *args: str) -> tuple[int, str]:
    code = cli.main(["check", "--project", str(project), "--static-only", *args])
    return code, capsys.readouterr().out


def project(tmp: Path, second: str) -> Path:
    return make_project(tmp, {"20270101000000_base.sql": BASE, "20270101000100_next.sql": second}, base=False)


def test_clean_project_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, project(tmp_path, "select 1;\n"))
    assert (code, out.strip()) == (0, "0 findings")


def test_json_shape_and_exit_status_by_fail_on(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = project(tmp_path, WARNING)
    code, out = run(capsys, p, "--format", "json")
    assert code == 1  # --fail-on warning by default
    (finding,) = json.loads(out)["findings"]
    assert finding == {
        "rule": "extension-in-public",
        "severity": "warning",
        "file": "supabase/migrations/20270101000100_next.sql",
        "line": 1,
        "object": None,
        "message": finding["message"],
        "fix": "create extension if not exists pg_trgm with schema extensions",
    }
    assert "pg_trgm" in finding["message"]
    assert run(capsys, p, "--fail-on", "error")[0] == 0
    assert run(capsys, p, "--fail-on", "info")[0] == 1
    assert run(capsys, project(tmp_path / "e", ERROR), "--fail-on", "error")[0] == 1


def test_text_and_github_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = project(tmp_path, ERROR)
    _, text = run(capsys, p)
    lines = text.splitlines()
    assert lines[0].startswith(
        "supabase/migrations/20270101000100_next.sql:1: error [transaction-control] `begin` inside"
    )
    assert lines[1] == "    fix: remove the `begin`"
    assert lines[-1] == "1 finding (1 error)"
    _, github = run(capsys, p, "--format", "github")
    assert github.startswith(
        "::error file=supabase/migrations/20270101000100_next.sql,line=1,title=transaction-control::`begin`"
    )
    assert " Fix: remove the `begin`" in github


def test_not_a_project_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["check", "--project", str(tmp_path)])
    assert code == 2
    assert "no supabase/migrations/" in capsys.readouterr().err


def test_unparsable_file_is_an_error_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, project(tmp_path, "select 1;\ncreate tabel x (id int);\n"), "--format", "json")
    (finding,) = json.loads(out)["findings"]
    assert (code, finding["rule"], finding["line"]) == (1, "parse-error", 2)


def test_suppression_with_reason_silences_that_rule_for_that_statement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "-- pg_trgm's operators are wanted unqualified by the search API\n"
        "-- supatenant: allow extension-in-public because the search API calls its operators unqualified\n"
        "create extension if not exists pg_trgm;\n"
        "create extension if not exists citext;\n"
    )
    code, out = run(capsys, project(tmp_path, sql), "--format", "json")
    found = [(f["rule"], f["line"]) for f in json.loads(out)["findings"]]
    assert (code, found) == (1, [("extension-in-public", 4)])


def test_suppression_without_reason_is_itself_a_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "-- supatenant: allow extension-in-public\ncreate extension if not exists pg_trgm;\n"
    code, out = run(capsys, project(tmp_path, sql), "--format", "json")
    found = [(f["rule"], f["line"]) for f in json.loads(out)["findings"]]
    assert (code, found) == (1, [("suppression-without-reason", 1), ("extension-in-public", 2)])


def test_suppression_of_another_rule_silences_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "-- supatenant: allow seed-rows because reference data\ncreate extension if not exists pg_trgm;\n"
    _, out = run(capsys, project(tmp_path, sql), "--format", "json")
    assert [(f["rule"], f["line"]) for f in json.loads(out)["findings"]] == [("extension-in-public", 2)]


def test_sources_merge_relative_and_without_repeats(tmp_path: Path) -> None:
    from supatenant.check.findings import CheckContext, Finding
    from supatenant.check.runner import run

    p = project(tmp_path, "select 1;\n")
    absolute = str(p / "supabase/migrations/20270101000100_next.sql")
    first = Finding(
        "seed-rows", "warning", "first", "fix", file="supabase/migrations/20270101000100_next.sql", line=1
    )
    again = Finding("seed-rows", "warning", "second", "fix", file=absolute, line=1)
    other = Finding("drift", "error", "changed outside migrations", "fix", object="public.notes")
    ctx = CheckContext(p, (), ())
    assert run(ctx, [lambda c: [first], lambda c: [again, other]]) == [other, first]


def test_a_failing_source_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from supatenant.check import runner
    from supatenant.check.findings import CheckContext, Finding

    def broken(ctx: CheckContext) -> list[Finding]:
        raise ConnectionError("server went away")

    monkeypatch.setattr(runner, "SOURCES", [*runner.STATIC, broken])
    code = cli.main(["check", "--project", str(project(tmp_path, "select 1;\n"))])
    assert code == 2
    assert "broken failed: ConnectionError: server went away" in capsys.readouterr().err


def test_a_suppression_holds_whichever_source_reports(tmp_path: Path) -> None:
    from supatenant.check.findings import CheckContext, Finding
    from supatenant.check.runner import run

    sql = "select 1;\n-- supatenant: allow schema-changed-on-rerun because it only refreshes a comment\ncomment on table public.tenants\n  is 'Tenants.';\n"
    p = project(tmp_path, sql)
    file = "supabase/migrations/20270101000100_next.sql"
    on_second_line = Finding("schema-changed-on-rerun", "error", "m", "f", file=file, line=4)
    elsewhere = Finding("schema-changed-on-rerun", "error", "m", "f", file=file, line=1)
    other_rule = Finding("file-fails", "error", "m", "f", file=file, line=3)
    ctx = CheckContext(p, (), ())
    assert run(ctx, [lambda c: [on_second_line, elsewhere, other_rule]]) == [elsewhere, other_rule]


def test_one_suppression_names_several_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sql = (
        "-- supatenant: allow extension-in-public, seed-rows because the demo project wants both\n"
        "create extension if not exists pg_trgm;\n"
        "-- supatenant: allow extension-in-public,seed-rows because rows the demo needs\n"
        "insert into public.tenants (name) values ('Demo');\n"
    )
    code, out = run(capsys, project(tmp_path, sql), "--format", "json")
    assert (code, json.loads(out)["findings"]) == (0, [])


def test_unreachable_target_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = project(tmp_path, "select 1;\n")
    code = cli.main(["check", "--project", str(p), "--database-url", "postgresql://nobody@127.0.0.1:1/none"])
    assert code == 2
    assert capsys.readouterr().err.startswith("supatenant check: ")
