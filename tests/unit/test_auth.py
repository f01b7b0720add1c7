from __future__ import annotations

import json
import uuid

import pytest

from supatenant.auth import Identity


def test_user_claims_carry_sub_and_role() -> None:
    uid = uuid.uuid4()
    assert json.loads(Identity.user(uid).claims_json()) == {
        "role": "authenticated",
        "sub": str(uid),
        "aud": "authenticated",
    }


def test_service_and_anon_claims_have_no_subject() -> None:
    assert json.loads(Identity.service().claims_json()) == {"role": "service_role"}
    assert json.loads(Identity.anon().claims_json()) == {"role": "anon"}


def test_authenticated_needs_a_user() -> None:
    with pytest.raises(ValueError, match="auth user id"):
        Identity("authenticated")
