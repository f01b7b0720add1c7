"""Generated models and types: what the catalog says reaches them, and the committed copies are current."""

from __future__ import annotations

import json
from typing import Any

import pytest

from supatenant import codegen
from supatenant.models import ConversationsInsert, MessagesInsert, UsageIncrement


def test_committed_generated_files_match_a_freshly_migrated_database(server_url: str) -> None:
    stale = codegen.generate(server_url, check=True)
    assert stale == [], f"regenerate with `supatenant gen` and commit: {stale}"


@pytest.fixture(scope="module")
def defs() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(codegen.targets()["schema"].read_text())
    definitions: dict[str, Any] = schema["$defs"]
    return definitions


def test_schema_carries_types_lengths_enums_bounds_defaults_and_comments(defs: dict[str, Any]) -> None:
    role = defs["MessagesRow"]["properties"]["role"]
    assert role["enum"] == ["user", "assistant", "system", "tool"]
    assert role["description"].startswith("Who spoke")
    assert defs["ConversationsRow"]["properties"]["title"] == {"type": ["string", "null"], "maxLength": 500}
    assert defs["MessagesRow"]["properties"]["token_count"]["minimum"] == 0
    assert defs["FeedbackRow"]["properties"]["rating"]["enum"] == [-1, 1]
    assert defs["TenantsInsert"]["properties"]["plan"]["default"] == "free"
    assert defs["TenantsInsert"]["properties"]["id"]["x-sql-default"] == "gen_random_uuid()"
    assert defs["UsageMetricsRow"]["properties"]["cost_usd"]["format"] == "decimal"


def test_insert_requires_what_has_no_default_and_skips_generated_columns(defs: dict[str, Any]) -> None:
    assert sorted(defs["TenantsInsert"]["required"]) == ["name", "slug"]
    assert "total_tokens" in defs["UsageMetricsRow"]["properties"]
    assert "total_tokens" not in defs["UsageMetricsInsert"]["properties"]
    assert defs["ConversationsUpdate"]["required"] == []


def test_every_public_table_and_view_has_row_insert_and_update(defs: dict[str, Any]) -> None:
    for name in (
        "Tenants",
        "Users",
        "Conversations",
        "Messages",
        "Feedback",
        "UsageMetrics",
        "CurrentDayUsage",
    ):
        assert {f"{name}Row", f"{name}Insert", f"{name}Update"} <= defs.keys()


def test_models_enforce_the_schema_before_any_io() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="title"):
        ConversationsInsert.model_validate({"tenant_id": "0" * 32, "user_id": "0" * 32, "title": "x" * 501})
    with pytest.raises(ValidationError, match="role"):
        MessagesInsert.model_validate(
            {
                "tenant_id": "0" * 32,
                "conversation_id": "0" * 32,
                "user_id": "0" * 32,
                "role": "bot",
                "content": "",
            }
        )
    with pytest.raises(ValidationError, match="extra"):
        UsageIncrement.model_validate({"tenant_id": "0" * 32, "user_id": "0" * 32, "tokens": 1})
    assert UsageIncrement.model_validate({"tenant_id": "0" * 32, "user_id": "0" * 32}).request_count == 1
