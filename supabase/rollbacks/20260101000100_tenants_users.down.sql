-- Inverse of 20260101000100_tenants_users.sql. Destroys tenant and member data.
drop table if exists public.users;
drop table if exists public.tenants;
drop function if exists private.guard_member_changes();
drop function if exists private.owner_tenant_ids();
drop function if exists private.admin_tenant_ids();
drop function if exists private.member_tenant_ids();
drop function if exists private.member_ids();
