"""The embedded server's edges that need no server: its absence, and a quiet import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from supatenant import embedded
from supatenant.errors import SetupError


def test_without_the_local_extra_nothing_is_started_or_reached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "available", lambda: False)
    monkeypatch.setattr(embedded, "_answers", lambda target: pytest.fail(f"reached {target}"))
    with pytest.raises(SetupError, match=r"pip install 'supatenant\[local\]'"):
        embedded.start()


def test_importing_pgserver_warns_nothing_without_xdg_runtime_dir() -> None:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    code = "from supatenant import embedded; embedded._import('pgserver'); embedded._import('pgserver._commands')"
    result = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stderr == ""
