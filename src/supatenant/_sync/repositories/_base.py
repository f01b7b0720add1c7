# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from pydantic import BaseModel

from supatenant._edge import check_public_methods
from supatenant.errors import InvalidReference, NotFound, PermissionDenied, Unsupported, database_error
from supatenant.models import Message
from supatenant.ops import Call, Caller, Cmp, Condition, Embed, Op, Order, Result, Select, eq

if TYPE_CHECKING:
    from supatenant._sync.store import Store
    from supatenant.results import Scope

M = TypeVar("M", bound=BaseModel)


def not_found(e: PermissionDenied | InvalidReference, what: str) -> NotFound:
    return NotFound(f"{what}: not found, or not yours ({e})", e.sqlstate)


class Repository:
    # whether a store working for one member (``for_member``) may use this repository: its
    # service-role rights must not reach beyond that member's threads
    for_member = True

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        check_public_methods(cls)  # every argument of every public method, before any I/O

    def __init__(self, store: Store) -> None:
        self._store = store

    def _scope(self) -> Scope:
        """The store's membership, for operations: before the store knows it, markers that the
        psycopg backend fills in the same round trip (see ``AsyncStore._op_scope``)."""
        return self._store._op_scope()

    def _tenant(self, tenant_id: UUID | None) -> UUID:
        """``tenant_id`` when given (service-role jobs), else the store's member's tenant (for
        operations: see :meth:`_scope`)."""
        return tenant_id if tenant_id is not None else (self._scope()).tenant_id

    @staticmethod
    def _tenant_named(tenant: UUID) -> str:
        """``tenant`` as an error message names it (the caller's, before it is known: "your tenant")."""
        return "your tenant" if isinstance(tenant, Caller) else f"tenant {tenant}"

    def _tenant_filter(self, tenant_id: UUID | None) -> UUID | None:
        """``tenant_id``, else the store's tenant when it already knows it (no lookup), else None."""
        return tenant_id if tenant_id is not None else self._store.known_tenant()

    def _conversation_key(self, conversation_id: UUID) -> tuple[Condition, ...]:
        """The conversation ``conversation_id`` of the store's tenant (and member, for a
        ``for_member`` store)."""
        tenant = str(self._tenant(None))
        return (eq("tenant_id", tenant), eq("id", str(conversation_id)), *self._members_rows_only())

    def _with_messages(
        self,
        conversation_id: UUID,
        columns: tuple[str, ...],
        *,
        where: tuple[Condition, ...],
        order: tuple[Order, ...],
        limit: int,
        what: str,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A conversation's ``columns`` and the messages of it that ``where`` picks, in one
        statement (one snapshot, one round trip); NotFound when the conversation is missing
        or not the caller's to read, never an empty list that would not tell."""
        embed = Embed(
            "messages",
            on=(("tenant_id", "tenant_id"), ("conversation_id", "id")),
            columns=tuple(Message.model_fields),
            order=order,
            limit=limit,
            where=where,
        )
        key = self._conversation_key(conversation_id)
        op = Select("conversations", key, single=True, columns=columns, embed=embed)
        row = dict((self._run(op, what)).rows[0])
        return row, row.pop("messages")

    def _members_rows_only(self) -> tuple[Cmp, ...]:
        """The condition that keeps a :meth:`~AsyncStore.for_member` store to its member's rows
        (``user_id`` is the thread's owner on messages, the rater on feedback)."""
        member = self._store.acting_for
        return (eq("user_id", str(member)),) if member is not None else ()

    def _run(self, op: Op, what: str) -> Result:
        if not self.for_member and self._store.acting_for is not None:
            raise Unsupported(
                f"{what}: a store working for a member reaches that member's conversations, "
                "messages and feedback only; use the service store itself"
            )
        return self._store._run(op, what)

    def _rows(self, op: Op, model: type[BaseModel], what: str) -> Result:
        """Run ``op`` reading the columns ``model`` knows by name: a column added to the table
        by a newer migration is neither read nor a reason to fail."""
        if not isinstance(op, Call) and not op.columns:
            op = replace(op, columns=tuple(model.model_fields))
        return self._run(op, what)

    def _all(self, op: Op, model: type[M], what: str) -> list[M]:
        return [model.model_validate(row) for row in (self._rows(op, model, what)).rows]

    def _into(self, op: Op, model: type[M], what: str) -> M:
        """A write into a row the caller names (the conversation a message goes to, the message
        a rating is of): refused because that row is missing or not theirs, it is NotFound,
        exactly as reading it would be, so the answer never tells a colleague's row from none."""
        try:
            return self._one(op, model, what)
        except (PermissionDenied, InvalidReference) as e:
            raise not_found(e, what) from e

    def _run_into(self, op: Op, what: str) -> Result:
        """:meth:`_into` for a call whose rows the caller reads itself (a database function)."""
        try:
            return self._run(op, what)
        except (PermissionDenied, InvalidReference) as e:
            raise not_found(e, what) from e

    def _member_turns_only(self, role: str, what: str) -> None:
        """A member's own store adds ``user`` turns only: the rest are the back end's (the
        database refuses them too; refused here, the refusal is told apart from a missing row)."""
        if role != "user" and self._store.acting_for is None and self._store.acts_as_user:
            raise PermissionDenied(f"not allowed: {what}: a member adds user turns only", "42501")

    def _back_end_only(self, what: str) -> None:
        """Streams and recorded turns are the back end's (the service role): a member's own
        store is refused by role, before anything is sent."""
        if self._store.acts_as_user:
            raise PermissionDenied(
                f"not allowed: {what}: assistant turns are written by the back end", "42501"
            )

    def _one(self, op: Op, model: type[M], what: str) -> M:
        """The single row ``op`` returns; an update or delete that matched nothing is NotFound."""
        rows = (self._rows(op, model, what)).rows
        if not rows:
            raise database_error("no row", "PGRST116", what)
        return model.model_validate(rows[0])
