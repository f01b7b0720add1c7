-- Tenants and their members, and the helpers every policy uses to find the caller's
-- memberships. One auth user may belong to several tenants; each membership is a row
-- of public.users.

create table if not exists public.tenants (
  id uuid primary key default gen_random_uuid(),
  name varchar(200) not null check (length(btrim(name)) > 0),
  slug varchar(63) not null check (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
  plan varchar(20) not null default 'free' check (plan in ('free', 'pro', 'team', 'enterprise')),
  is_active boolean not null default true,
  settings jsonb not null default '{}'::jsonb check (jsonb_typeof(settings) = 'object'),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint tenants_slug_key unique (slug)
);
comment on table public.tenants is 'A customer organisation; every other row belongs to exactly one tenant.';
comment on column public.tenants.slug is 'URL-safe unique handle: lowercase letters, digits and single hyphens.';
comment on column public.tenants.plan is 'Billing plan; changed by the service role only.';
comment on column public.tenants.is_active is 'An inactive tenant''s members see nothing.';
comment on column public.tenants.settings is 'Tenant-level configuration as a JSON object; editable by the owner.';

create table if not exists public.users (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  auth_id uuid references auth.users (id) on delete set null,
  email varchar(320) not null check (position('@' in email) > 1),
  display_name varchar(200),
  role varchar(20) not null default 'member' check (role in ('owner', 'admin', 'member')),
  is_active boolean not null default true,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  constraint users_tenant_id_auth_id_key unique (tenant_id, auth_id)
);
comment on table public.users is 'A member of a tenant: one row per (tenant, person).';
comment on column public.users.auth_id is 'The Supabase Auth user who signs in as this member; null until they have an account.';
comment on column public.users.role is 'owner, admin or member; only admins change roles and only owners grant or revoke owner.';
comment on column public.users.is_active is 'A deactivated member sees nothing; admins deactivate rather than delete.';
create unique index if not exists users_tenant_id_email_key on public.users (tenant_id, lower(email));
-- the membership helpers look members up by auth id, across tenants
create index if not exists users_auth_id_idx on public.users (auth_id);

create or replace trigger tenants_set_updated_at before update on public.tenants
  for each row execute function private.set_updated_at();
create or replace trigger users_set_updated_at before update on public.users
  for each row execute function private.set_updated_at();

-- The caller's active memberships in active tenants. Not granted to any API role: only
-- the security definer helpers below read it.
create or replace view private.caller_memberships as
  select u.id, u.tenant_id, u.role
  from public.users u
  join public.tenants t on t.id = u.tenant_id
  where u.auth_id = (select auth.uid()) and u.is_active and t.is_active;
comment on view private.caller_memberships is 'The calling auth user''s active memberships in active tenants.';
revoke all on private.caller_memberships from public, anon, authenticated, service_role;

-- Membership helpers. security definer so they can read users/tenants under RLS without
-- recursion; stable and called as (select ...) so each runs once per statement; plpgsql
-- so their query plans are cached for the session rather than planned on every call.
create or replace function private.member_ids()
returns uuid[]
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return (select coalesce(array_agg(u.id), '{}') from private.caller_memberships u);
end
$$;
comment on function private.member_ids() is 'Ids of the caller''s active memberships in active tenants.';

create or replace function private.member_tenant_ids()
returns uuid[]
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return (select coalesce(array_agg(u.tenant_id), '{}') from private.caller_memberships u);
end
$$;
comment on function private.member_tenant_ids() is 'Tenants in which the caller is an active member of an active tenant.';

create or replace function private.admin_tenant_ids()
returns uuid[]
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return (select coalesce(array_agg(u.tenant_id), '{}') from private.caller_memberships u where u.role in ('owner', 'admin'));
end
$$;
comment on function private.admin_tenant_ids() is 'Active tenants in which the caller is an active admin or owner.';

create or replace function private.owner_tenant_ids()
returns uuid[]
language plpgsql stable security definer
set search_path = ''
as $$
begin
  return (select coalesce(array_agg(u.tenant_id), '{}') from private.caller_memberships u where u.role = 'owner');
end
$$;
comment on function private.owner_tenant_ids() is 'Active tenants in which the caller is an active owner.';

revoke all on function private.member_ids(), private.member_tenant_ids(),
  private.admin_tenant_ids(), private.owner_tenant_ids() from public;
grant execute on function private.member_ids(), private.member_tenant_ids(),
  private.admin_tenant_ids(), private.owner_tenant_ids() to authenticated, service_role;

-- Role and status changes are an admin's (owner's, for the owner role). Column grants
-- cannot tell a member editing themself from an admin, so a trigger does.
create or replace function private.guard_member_changes()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user <> 'authenticated' then
    return new;
  end if;
  if tg_op = 'UPDATE' and new.role = old.role and new.is_active = old.is_active then
    return new;
  end if;
  if not new.tenant_id = any((select private.admin_tenant_ids())::uuid[]) then
    raise exception 'only an admin or owner may add members or change a member''s role or status'
      using errcode = '42501';
  end if;
  if (new.role = 'owner' or (tg_op = 'UPDATE' and old.role = 'owner'))
     and not new.tenant_id = any((select private.owner_tenant_ids())::uuid[]) then
    raise exception 'only an owner may grant or revoke the owner role'
      using errcode = '42501';
  end if;
  return new;
end
$$;
comment on function private.guard_member_changes() is 'Trigger: only admins change roles or status; only owners touch the owner role.';
revoke all on function private.guard_member_changes() from public;

create or replace trigger users_guard_member_changes before insert or update on public.users
  for each row execute function private.guard_member_changes();

alter table public.tenants enable row level security;
alter table public.users enable row level security;

revoke all on public.tenants, public.users from anon, authenticated, service_role;
grant select, insert, update, delete on public.tenants, public.users to service_role;
grant select on public.tenants to authenticated;
grant update (name, settings) on public.tenants to authenticated;
grant select on public.users to authenticated;
grant insert (id, tenant_id, auth_id, email, display_name, role, is_active) on public.users to authenticated;
grant update (display_name, role, is_active) on public.users to authenticated;

drop policy if exists "Members can read their own tenant" on public.tenants;
create policy "Members can read their own tenant" on public.tenants
  for select to authenticated
  using (id = any((select private.member_tenant_ids())::uuid[]));

drop policy if exists "Owners can update their tenant" on public.tenants;
create policy "Owners can update their tenant" on public.tenants
  for update to authenticated
  using (id = any((select private.owner_tenant_ids())::uuid[]))
  with check (id = any((select private.owner_tenant_ids())::uuid[]));

drop policy if exists "Members can read the members of their tenant" on public.users;
create policy "Members can read the members of their tenant" on public.users
  for select to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]));

drop policy if exists "Admins can add members to their tenant" on public.users;
create policy "Admins can add members to their tenant" on public.users
  for insert to authenticated
  with check (tenant_id = any((select private.admin_tenant_ids())::uuid[]));

drop policy if exists "Members can edit their own profile and admins any member of their tenant" on public.users;
create policy "Members can edit their own profile and admins any member of their tenant" on public.users
  for update to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  )
  with check (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );
