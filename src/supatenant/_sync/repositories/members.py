# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any
from uuid import UUID

from supatenant._sync.repositories._base import Repository
from supatenant.models import (
    Invitation,
    InviteMemberArgs,
    Member,
    NewInvitation,
    Role,
    TransferOwnershipArgs,
    UsersInsert,
    UsersUpdate,
    to_json,
)
from supatenant.ops import Call, Cmp, Condition, Delete, Insert, Order, Select, Update, eq


class Members(Repository):
    """A tenant's members (the ``users`` table): read by the tenant, managed by its admins."""

    for_member = False

    def me(self) -> Member:
        """The store's own membership."""
        return self._store.me()

    def get(self, member_id: UUID, *, tenant_id: UUID | None = None) -> Member:
        tenant = self._tenant(tenant_id)
        op = Select("users", (eq("tenant_id", str(tenant)), eq("id", str(member_id))), single=True)
        return self._one(op, Member, f"member {member_id}")

    def list(self, *, include_inactive: bool = False, tenant_id: UUID | None = None) -> builtins.list[Member]:
        """The tenant's members by email."""
        where: tuple[Condition, ...] = (eq("tenant_id", str(self._tenant(tenant_id))),)
        if not include_inactive:
            where += (Cmp("is_active", "is", True),)
        return self._all(Select("users", where, (Order("email"),)), Member, "members")

    def add(
        self,
        email: str,
        *,
        role: Role = "member",
        display_name: str | None = None,
        auth_id: UUID | None = None,
        tenant_id: UUID | None = None,
    ) -> Member:
        """Add a member without an account to the tenant (admins; only owners add owners).

        The person gets an account link by accepting an invitation (:meth:`invite`); only the
        service role may pass ``auth_id`` to link an account directly."""
        what = f"add member {email!r}"
        given = {"email": email, "role": role, "display_name": display_name, "auth_id": auth_id}
        row = {
            "tenant_id": self._tenant(tenant_id),
            **{k: v for k, v in given.items() if v is not None},
        }
        return self._one(Insert("users", (to_json(UsersInsert, row, what),)), Member, what)

    def _change(self, member_id: UUID, values: dict[str, Any], tenant_id: UUID | None, verb: str) -> Member:
        what = f"{verb} member {member_id}"
        where = (eq("tenant_id", str(self._tenant(tenant_id))), eq("id", str(member_id)))
        return self._one(Update("users", to_json(UsersUpdate, values, what), where), Member, what)

    def update_profile(self, display_name: str | None) -> Member:
        """Change the store's own display name."""
        me = self._store.me()
        return self._change(me.id, {"display_name": display_name}, me.tenant_id, "update")

    def set_role(self, member_id: UUID, role: Role, *, tenant_id: UUID | None = None) -> Member:
        """Re-role a member (admins; owner role by owners only)."""
        return self._change(member_id, {"role": role}, tenant_id, "re-role")

    def deactivate(self, member_id: UUID, *, tenant_id: UUID | None = None) -> Member:
        """Shut a member out: an inactive member sees nothing. Their data stays."""
        return self._change(member_id, {"is_active": False}, tenant_id, "deactivate")

    def reactivate(self, member_id: UUID, *, tenant_id: UUID | None = None) -> Member:
        return self._change(member_id, {"is_active": True}, tenant_id, "reactivate")

    def invite(
        self,
        email: str,
        *,
        role: Role = "member",
        valid_for: timedelta = timedelta(days=7),
        tenant_id: UUID | None = None,
    ) -> NewInvitation:
        """Invite an email address into the tenant (admins; owner invitations by owners).

        Returns the invitation with its single-use token, shown only here: send it to the
        invitee, who joins with ``accept_invitation(token)`` signed in as that address.
        Inviting an address again replaces its pending invitation."""
        what = f"invite {email!r}"
        args = {
            "p_tenant_id": self._tenant(tenant_id),
            "p_email": email,
            "p_role": role,
            "p_valid_for": valid_for,
        }
        payload = to_json(InviteMemberArgs, args, what)
        return self._one(Call("invite_member", payload), NewInvitation, what)

    def invitations(self, *, tenant_id: UUID | None = None) -> builtins.list[Invitation]:
        """The tenant's invitations, newest first (admins)."""
        where = (eq("tenant_id", str(self._tenant(tenant_id))),)
        op = Select("invitations", where, (Order("created_at", descending=True), Order("id")))
        return self._all(op, Invitation, "invitations")

    def revoke_invitation(self, invitation_id: UUID, *, tenant_id: UUID | None = None) -> Invitation:
        """Withdraw an invitation (admins); its token stops working. Returns what was revoked."""
        where = (eq("tenant_id", str(self._tenant(tenant_id))), eq("id", str(invitation_id)))
        return self._one(Delete("invitations", where), Invitation, f"invitation {invitation_id}")

    def transfer_ownership(self, member_id: UUID, *, tenant_id: UUID | None = None) -> Member:
        """Make an active member the owner and the calling owner an admin, in one call."""
        what = f"transfer ownership to member {member_id}"
        args = to_json(
            TransferOwnershipArgs,
            {"p_tenant_id": self._tenant(tenant_id), "p_member_id": member_id},
            what,
        )
        return self._one(Call("transfer_ownership", args, "row"), Member, what)
