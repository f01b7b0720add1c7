"""Puts the SQL of ``supabase/`` (and any seed data in ``seeds/``) into the wheel under
``supatenant/_bundle/`` (see ``supatenant.bundle``). Whole folders, so a new migration ships
without editing a list; only into real wheels: an editable install reads the checkout's own
files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = (
    "supabase/migrations",
    "supabase/rollbacks",
    "supabase/local",
    "supabase/tests",
    "supabase/seed.sql",
)


class BundleHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version == "editable":
            return
        for path in SHIPPED:
            build_data["force_include"][path] = f"supatenant/_bundle/{path}"
        # seed presets and data kept in the repository's seeds/ folder, if any (never code)
        for data in sorted(Path(self.root, "seeds").rglob("*")):
            if data.is_file() and data.suffix not in (".py", ".pyc"):
                relative = data.relative_to(self.root).as_posix()
                build_data["force_include"][relative] = f"supatenant/_bundle/{relative}"
