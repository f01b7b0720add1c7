"""Where the project's files are: the Supabase folder and the pinned Supabase CLI.

The project is the Supabase CLI project being worked on: an app's own (into which
``supatenant init`` put supatenant's migrations) or supatenant's repository itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from supatenant import bundle
from supatenant.errors import CliMissing, SetupError

_ENV_DIR = "SUPATENANT_PROJECT_DIR"


def project_dir() -> Path:
    """The folder holding ``supabase/config.toml``.

    ``SUPATENANT_PROJECT_DIR`` when set; else the nearest such folder above the working
    directory; else the checkout this package runs from, if it does.
    """
    explicit = os.environ.get(_ENV_DIR)
    if explicit:
        return Path(explicit).resolve()
    for folder in (Path.cwd(), *Path.cwd().parents, bundle.root()):
        if (folder / "supabase" / "config.toml").is_file():
            return folder
    raise SetupError(
        f"no Supabase project here: no supabase/config.toml in {Path.cwd()} or above. Run it from "
        f"your project (`npx supabase init` makes one, `supatenant init` puts supatenant's "
        f"migrations into it), or set {_ENV_DIR}"
    )


def supabase_dir() -> Path:
    return project_dir() / "supabase"


def supabase_cli() -> list[str]:
    """The command that runs the Supabase CLI: the project's (``npm install supabase``), else
    the one next to this checkout, else the one on ``PATH``."""
    for folder in (project_dir(), bundle.root()):
        local = folder / "node_modules" / ".bin" / "supabase"
        if local.is_file():
            return [str(local)]
    on_path = shutil.which("supabase")
    if on_path:
        return [on_path]
    raise CliMissing(
        "the Supabase CLI is not installed: run `npm install` in the project folder "
        "(in your own project: `npm install --save-dev supabase`)"
    )


def run_supabase(*args: str, workdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the Supabase CLI on this project (or the one in ``workdir``), never waiting for
    input; output is captured."""
    command = [*supabase_cli(), *args, "--workdir", str(workdir or project_dir())]
    return subprocess.run(command, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
