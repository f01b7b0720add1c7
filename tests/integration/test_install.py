"""supatenant as a user gets it: the wheel and sdist built from this checkout, installed into a
fresh virtual environment outside the repository, and used from there on an app's own
Supabase project that already has two migrations of its own.

The base package is installed first and checked, then the ``local`` extra on top; pip
takes the dependencies from its cache or PyPI.
"""

from __future__ import annotations

import email
import json
import os
import shutil
import socket
import subprocess
import sys
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from supatenant import bundle
from supatenant.seeding.load import plan
from supatenant.seeding.plan import ANCHOR, PRESETS

REPO = bundle.root()
SHIPPED = ("migrations", "rollbacks", "local", "tests", "seed.sql")

APP_MIGRATIONS = {
    # the app's own history, newer than supatenant's migrations (so `init` gives them new
    # versions after these), touching names supatenant does not use
    "20261215120000_notes.sql": "create table if not exists public.notes (id bigint primary key, body text);\n"
    "alter table public.notes enable row level security;\n",
    "20261216120000_note_tags.sql": "create table if not exists public.note_tags "
    "(note_id bigint references public.notes (id), tag text, primary key (note_id, tag));\n"
    "alter table public.note_tags enable row level security;\n",
}


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    assert result.returncode in ok, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel built from it, as a release would be, both passing twine's check."""
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPO)]
    run(build, REPO)
    built = {p.suffix: p for p in out.iterdir()}
    run([sys.executable, "-m", "twine", "check", "--strict", *map(str, built.values())], out)
    return {"wheel": built[".whl"], "sdist": built[".gz"]}


@pytest.fixture(scope="module")
def user_env(tmp_path_factory: pytest.TempPathFactory, dist: dict[str, Path]) -> Path:
    """A fresh virtual environment outside the repository with the base wheel installed."""
    home = tmp_path_factory.mktemp("user")
    assert not home.resolve().is_relative_to(REPO.resolve())
    venv.create(home / "venv", with_pip=True)
    pip = [str(home / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    run([*pip, str(dist["wheel"])], home)
    return home / "venv"


def env_for(venv_dir: Path, **extra: str) -> dict[str, str]:
    """The user's shell: their venv first on PATH, no DATABASE_URL unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPATENANT_PROJECT_DIR")}
    env["PATH"] = f"{venv_dir / 'bin'}:{env['PATH']}"
    env.pop("PYTHONPATH", None)
    return env | extra


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_app(parent: Path) -> Path:
    """An app's Supabase CLI project made by the real `supabase init`, with two migrations of its
    own; the CLI is in its node_modules, as `npm install --save-dev supabase` leaves it."""
    app = parent / "app"
    app.mkdir()
    (app / "node_modules").symlink_to(REPO / "node_modules")
    run([str(app / "node_modules" / ".bin" / "supabase"), "init", "--workdir", str(app)], app)
    migrations = app / "supabase" / "migrations"
    migrations.mkdir(exist_ok=True)
    for name, sql in APP_MIGRATIONS.items():
        (migrations / name).write_text(sql)
    return app


def test_the_wheel_holds_the_package_and_exactly_the_repositorys_sql(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = wheel.namelist()
        prefix = "supatenant/_bundle/"
        shipped = {n[len(prefix) :]: wheel.read(n) for n in names if n.startswith(prefix)}
        meta = email.message_from_bytes(
            wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        )
    top_level = {n.split("/", 1)[0] for n in names}
    assert top_level == {"supatenant", "supatenant-0.1.0.dist-info"}, "supatenant is the only import name"
    in_repo = {
        str(p.relative_to(REPO)): p.read_bytes()
        for name in SHIPPED
        for p in (
            [REPO / "supabase" / name] if name.endswith(".sql") else (REPO / "supabase" / name).rglob("*")
        )
        if p.is_file()
    }
    assert shipped == in_repo | {
        # seed presets and data in the repository's seeds/ folder, if any
        str(p.relative_to(REPO)): p.read_bytes()
        for p in (REPO / "seeds").rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc")
    }
    assert any(n.startswith("supabase/migrations/") for n in shipped)
    assert meta["License-Expression"] == "MIT"
    assert set(meta.get_all("Provides-Extra") or []) >= {"local", "supabase", "fastapi"}
    requires = " ".join(meta.get_all("Requires-Dist") or [])
    assert "pgserver" in requires
    assert "extra == 'local'" in requires
    assert not any("supabase" in r and "extra" not in r for r in meta.get_all("Requires-Dist") or [])
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        assert "supatenant/__main__.py" in wheel.namelist()


def test_the_sdist_builds_the_same_wheel_contents(dist: dict[str, Path], tmp_path: Path) -> None:
    shutil.unpack_archive(dist["sdist"], tmp_path)
    (source,) = tmp_path.iterdir()
    for name in SHIPPED:
        assert (source / "supabase" / name).exists(), name
    assert not (source / "tests").exists()


def test_from_a_fresh_venv_base_install_then_local_extra_init_up_seed_and_store(
    user_env: Path, dist: dict[str, Path], tmp_path: Path, fresh_database: Callable[[], str]
) -> None:
    python = str(user_env / "bin" / "python")
    app = make_app(tmp_path)

    # the base install: no supabase-py loaded, and what needs the `local` extra says so.
    # A port nobody serves: even so, without the extra nothing may be started or reached there
    base = env_for(user_env, SUPATENANT_EMBEDDED_PORT=str(free_port()))
    probe = "import sys, supatenant; print('supabase' in sys.modules, 'httpx' in sys.modules)"
    assert run([python, "-c", probe], tmp_path, base).stdout.split() == ["False", "False"]
    for command, needs in (
        (["supatenant", "init"], "pglast"),
        (["supatenant", "seed", "--preset", "tiny"], "embedded PostgreSQL is not installed"),
    ):
        refused = subprocess.run(command, cwd=app, env=base, capture_output=True, text=True, check=False)
        assert refused.returncode == 1, refused.stdout
        assert needs in refused.stderr
        assert "pip install 'supatenant[local]'" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (app / "supabase" / "supatenant.json").exists()

    run([python, "-m", "pip", "install", "--quiet", f"{dist['wheel']}[local]"], tmp_path)
    url = fresh_database()
    env = env_for(user_env, DATABASE_URL=url)

    init = run(["supatenant", "init"], app, env).stdout
    last_own = max(name.split("_", 1)[0] for name in APP_MIGRATIONS)
    marker = json.loads((app / "supabase" / "supatenant.json").read_text())
    installed = marker["versions"]
    assert list(installed) == [m.version for m in bundle.migrations()]
    assert all(new > last_own for new in installed.values()), "after the app's newest"
    assert list(installed.values()) == sorted(installed.values()), "in supatenant's order"
    names = {m.version: m.up.name.split("_", 1)[1] for m in bundle.migrations()}
    for m in bundle.migrations():
        assert m.down is not None
        new_up = app / "supabase" / "migrations" / f"{installed[m.version]}_{names[m.version]}"
        new_down = app / "supabase" / "rollbacks" / f"{installed[m.version]}_{m.down.name.split('_', 1)[1]}"
        assert new_up.read_bytes() == m.up.read_bytes()
        assert new_down.read_bytes() == m.down.read_bytes()
        assert f"added supabase/migrations/{new_up.name}" in init

    up = run(["supatenant", "up"], app, env).stdout
    applying = [line for line in up.splitlines() if line.startswith("Applying migration")]
    order = [line.split()[-1].removesuffix("...") for line in applying]
    assert order == [*APP_MIGRATIONS, *(f"{installed[v]}_{names[v]}" for v in installed)]
    assert up.splitlines()[-1] == url

    seeded = run(["python", "-m", "supatenant", "seed", "--preset", "tiny"], app, env).stdout
    heads = plan(PRESETS["tiny"], 1, ANCHOR).heads
    assert seeded.startswith(f"seeded {len(heads)} tenants (0 already there)")

    script = tmp_path / "two_lines.py"
    script.write_text(
        "import sys; from supatenant import Store\n"
        "print(*sorted(t.slug for t in Store.connect(sys.argv[1], service_role=True).tenants.list()))\n"
    )
    listed = run([python, str(script), url], tmp_path, env).stdout.split()
    assert listed == sorted(head.tenant["slug"] for head in heads)
    with psycopg.connect(url) as conn:
        versions = {v for (v,) in conn.execute("select version from supabase_migrations.schema_migrations")}
    assert versions == {name.split("_", 1)[0] for name in APP_MIGRATIONS} | set(installed.values())

    # status reads the history against the renamed files; check's history rules pass on them
    status = run(
        ["supatenant", "status", "--database-url", url, "--server", url, "--format", "json"],
        app,
        env,
        ok=(0, 1),
    )
    migrations = json.loads(status.stdout)["migrations"]
    assert migrations["applied"] == migrations["files"] == len(versions)
    assert migrations["pending"] == migrations["unknown"] == migrations["edited"] == []
    assert migrations["older_than_newest_applied"] == []
    check = run(["supatenant", "check", "--static-only", "--format", "json"], app, env, ok=(0, 1))
    history = {"skipped-file", "duplicate-version", "version-out-of-order", "missing-rollback"}
    ours = {f"supabase/migrations/{installed[v]}_{names[v]}" for v in installed}
    found = [f for f in json.loads(check.stdout)["findings"] if f["rule"] in history]
    assert [f for f in found if f["file"] in ours] == []
    # the app's own migrations have no rollbacks: the rule ran and saw them
    assert {f["file"] for f in found} == {f"supabase/migrations/{n}" for n in APP_MIGRATIONS}

    # gen is the repository's tool; rollback takes the installed rollbacks, keeping the app's
    gen = subprocess.run(["supatenant", "gen"], cwd=app, env=env, capture_output=True, text=True, check=False)
    assert gen.returncode == 1
    assert "npx supabase gen types" in gen.stderr
    undone = run(["supatenant", "rollback", "--to", last_own], app, env).stdout.splitlines()
    assert undone == [f"rolled back {v}" for v in reversed(installed.values())]
    with psycopg.connect(url) as conn:
        left = {t for (t,) in conn.execute("select tablename from pg_tables where schemaname = 'public'")}
    assert left == {"notes", "note_tags"}
