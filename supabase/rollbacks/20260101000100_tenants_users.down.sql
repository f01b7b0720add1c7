-- Inverse of 20260101000100_tenants_users.sql. Destroys tenant and member data.
-- The view first (it depends on the tables), the tables next (their policies depend on
-- the helpers), the helpers last.
drop view if exists private.caller_memberships;
drop table if exists public.users;
drop table if exists public.tenants;
drop function if exists private.guard_member_changes();
drop function if exists private.owner_tenant_ids();
drop function if exists private.admin_tenant_ids();
drop function if exists private.member_tenant_ids();
drop function if exists private.member_ids();
