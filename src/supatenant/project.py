"""Where the project's files are: the Supabase folder and the pinned Supabase CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from supatenant.errors import CliMissing

_ENV_DIR = "SUPATENANT_PROJECT_DIR"


def project_dir() -> Path:
    """The folder holding ``supabase/config.toml``.

    ``SUPATENANT_PROJECT_DIR`` when set; else the nearest such folder above the working
    directory; else the checkout this package was installed from.
    """
    explicit = os.environ.get(_ENV_DIR)
    if explicit:
        return Path(explicit).resolve()
    candidates = [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    for folder in candidates:
        if (folder / "supabase" / "config.toml").is_file():
            return folder
    raise FileNotFoundError(
        f"no supabase/config.toml above {Path.cwd()}; run from the supatenant checkout or set {_ENV_DIR}"
    )


def supabase_dir() -> Path:
    return project_dir() / "supabase"


def supabase_cli() -> list[str]:
    """The command that runs the pinned Supabase CLI (``npm install`` installs it)."""
    for folder in (project_dir(), *Path(__file__).resolve().parents):
        local = folder / "node_modules" / ".bin" / "supabase"
        if local.is_file():
            return [str(local)]
    on_path = shutil.which("supabase")
    if on_path:
        return [on_path]
    raise CliMissing(
        "the Supabase CLI is not installed: run `npm install` in the project folder "
        "(package.json pins the `supabase` package)"
    )


def run_supabase(*args: str, workdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the Supabase CLI on this project (or the one in ``workdir``), never waiting for
    input; output is captured."""
    command = [*supabase_cli(), *args, "--workdir", str(workdir or project_dir())]
    return subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
