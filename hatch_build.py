"""Puts the SQL of ``supabase/`` into the wheel under ``supatenant/_bundle/`` (see
``supatenant.bundle``). Whole folders, so a new migration ships without editing a list; only
into real wheels: an editable install reads the checkout's own files."""

from __future__ import annotations

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
