from __future__ import annotations

import builtins
from typing import Any, Literal
from uuid import UUID

from supatenant._async.repositories._base import AsyncRepository
from supatenant._edge import UNSET, Unset, given
from supatenant.models import Plan, Tenant, TenantsInsert, TenantsUpdate, to_json
from supatenant.ops import Insert, Order, Select, Update, eq


class AsyncTenants(AsyncRepository):
    """Tenants: members read their own, owners rename and configure it, the service role does all."""

    for_member = False

    async def create(
        self, name: str, slug: str, *, plan: Plan = "free", settings: dict[str, Any] | None = None
    ) -> Tenant:
        """A new tenant (service role)."""
        what = f"create tenant {slug!r}"
        row = to_json(
            TenantsInsert, {"name": name, "slug": slug, "plan": plan, "settings": settings or {}}, what
        )
        return await self._one(Insert("tenants", (row,)), Tenant, what)

    async def get(self, tenant_id: UUID | None = None) -> Tenant:
        """A tenant by id; by default the store's member's own tenant."""
        tenant = await self._tenant(tenant_id)
        return await self._one(
            Select("tenants", (eq("id", str(tenant)),), single=True), Tenant, self._tenant_named(tenant)
        )

    async def list(self) -> builtins.list[Tenant]:
        """Every tenant the caller can see, by name."""
        return await self._all(Select("tenants", order=(Order("name"),)), Tenant, "tenants")

    async def update(
        self,
        tenant_id: UUID | None = None,
        *,
        name: str | Literal[Unset.UNSET] = UNSET,
        settings: dict[str, Any] | Literal[Unset.UNSET] = UNSET,
        plan: Plan | Literal[Unset.UNSET] = UNSET,
        is_active: bool | Literal[Unset.UNSET] = UNSET,
    ) -> Tenant:
        """Change a tenant; owners may change name and settings, the service role anything.
        Nothing given changes nothing."""
        tenant = await self._tenant(tenant_id)
        what = f"update {self._tenant_named(tenant)}"
        changes = to_json(
            TenantsUpdate, given(name=name, settings=settings, plan=plan, is_active=is_active), what
        )
        if not changes:
            return await self.get(tenant)
        return await self._one(Update("tenants", changes, (eq("id", str(tenant)),)), Tenant, what)
