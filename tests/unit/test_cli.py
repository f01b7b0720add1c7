from __future__ import annotations

import pytest

from supatenant import cli, database


def test_unreachable_url_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["up", "--database-url", "postgresql://postgres:secret@127.0.0.1:1/nowhere"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("supatenant: cannot connect to postgresql://postgres:***@127.0.0.1:1/nowhere")
    assert "secret" not in err


def test_missing_cli_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # no database is involved: this checks only how a missing CLI is reported
    monkeypatch.setattr(database, "check_reachable", lambda url: None)
    monkeypatch.setattr(database, "apply_supabase_compat", lambda url: False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr("supatenant.project.Path.is_file", lambda self: self.name == "config.toml")
    code = cli.main(["up", "--database-url", "postgresql://x@127.0.0.1/db"])
    assert code == 1
    assert "the Supabase CLI is not installed: run `npm install`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:pw@h:5432/d", "postgresql://u:***@h:5432/d"),
        ("postgresql://u@h/d", "postgresql://u@h/d"),
        ("postgresql://h/d", "postgresql://h/d"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert database.redact(url) == shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--supabase-url", "http://127.0.0.1:1"], "--supabase-url and --service-role-key go together"),
        (["--service-role-key", "k"], "--supabase-url and --service-role-key go together"),
        (["--database-url", "postgresql://x", "--tenants", "0"], "tenants must be at least 1"),
        (["--database-url", "postgresql://x", "--jobs", "0"], "jobs must be at least 1"),
    ],
)
def test_seed_refuses_flags_that_do_not_fit(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["seed", *args]) == 2
    assert message in capsys.readouterr().err


def test_seed_through_an_unreachable_project_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["seed", "--supabase-url", "http://127.0.0.1:1", "--service-role-key", "k"])
    assert code == 1
    assert "the project could not be reached" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--database-url", "garbage"],
        ["maintain", "--database-url", "postgresql://nobody@127.0.0.1:1/none"],
    ],
)
def test_a_database_the_command_cannot_use_is_a_message_not_a_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from supatenant import cli

    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("supatenant: ")
    assert "Traceback" not in err
