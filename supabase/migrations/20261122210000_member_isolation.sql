-- Membership identity that cannot be forged, and checks that fail closed.
--
-- Before this, policies tested `tenant_id = any(my tenants)` and `user_id = any(my member
-- ids)` separately, and admins could choose a new member's id and auth id: an admin of any
-- tenant could mint a membership with a colleague's member id and read and write as them.
-- Now every check pairs tenant and member through one helper, private.caller_scopes();
-- API callers never choose a member id or link an auth account (that takes an invitation
-- accepted by the account itself); "privileged" is decided by the role a statement runs
-- as, never by a JWT claim; a tenant keeps an active owner; members add user turns only.

-- The role the calling statement runs as: SET ROLE's (PostgREST's per-request role), else
-- the login role. Read inside security definer functions, where current_user is the owner.
create or replace function private.invoker_role()
returns name
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(pg_catalog.current_setting('role'), 'none'), session_user)::name
$$;
comment on function private.invoker_role() is 'The role the calling statement runs as (SET ROLE''s role, else the login role); never a JWT claim.';

-- Whether a role sees every row of the tenant tables anyway: a superuser, a role with
-- BYPASSRLS (Supabase''s service_role) or the tables'' owner. Decided from the catalog.
create or replace function private.role_bypasses_rls(p_role name)
returns boolean
language sql stable
set search_path = ''
as $$
  select exists (
    select 1 from pg_catalog.pg_roles r
    where r.rolname = p_role
      and (r.rolsuper or r.rolbypassrls
           or r.oid = (select c.relowner from pg_catalog.pg_class c where c.oid = 'public.tenants'::regclass))
  )
$$;
comment on function private.role_bypasses_rls(name) is 'True for roles that row-level security does not restrict on the tenant tables: superusers, BYPASSRLS roles (the service role), the tables'' owner.';

-- The caller's active memberships in active tenants, as (tenant, member) pairs. Every
-- policy matches rows against these pairs, so a member id means nothing outside its tenant.
create or replace function private.caller_scopes()
returns table (tenant_id uuid, member_id uuid, is_admin boolean, is_owner boolean)
language plpgsql stable security definer
rows 4
set search_path = ''
as $$
begin
  return query
    select u.tenant_id, u.id, u.role in ('owner', 'admin'), u.role = 'owner'
    from public.users u
    join public.tenants t on t.id = u.tenant_id
    where u.auth_id = (select auth.uid()) and u.is_active and t.is_active;
end
$$;
comment on function private.caller_scopes() is 'The calling auth user''s active memberships in active tenants as (tenant_id, member_id) pairs, with their admin and owner flags.';

revoke all on function private.invoker_role(), private.role_bypasses_rls(name), private.caller_scopes() from public;
grant execute on function private.invoker_role(), private.role_bypasses_rls(name), private.caller_scopes()
  to authenticated, service_role;

-- Member ids are globally unique: generated, never chosen by an API caller (no column
-- privilege), and checked on insert for the service role too. Isolation does not rest on
-- it (every check pairs tenant and member); the index also serves that check.
create index if not exists users_id_idx on public.users (id);

-- JSON documents are bounded, so no single request can store megabytes of metadata.
-- Triggers rather than check constraints: a document stored before the limit existed is
-- only refused when it is written again, so an old row never blocks counters, archiving or
-- deactivation. The condition is in each trigger's WHEN: no function call for rows within it.
create or replace function private.refuse_large_document()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception '%', tg_argv[0] using errcode = '23514';
end
$$;
comment on function private.refuse_large_document() is 'Trigger: refuses a row whose JSON document is over its limit; the message names the limit.';
revoke all on function private.refuse_large_document() from public;

create or replace trigger tenants_limit_document_size_on_insert before insert on public.tenants
  for each row when (octet_length(new.settings::text) > 65536)
  execute function private.refuse_large_document('tenants.settings holds at most 65536 bytes of JSON text');
create or replace trigger tenants_limit_document_size_on_update before update of settings on public.tenants
  for each row when (new.settings is distinct from old.settings and octet_length(new.settings::text) > 65536)
  execute function private.refuse_large_document('tenants.settings holds at most 65536 bytes of JSON text');
create or replace trigger conversations_limit_document_size_on_insert before insert on public.conversations
  for each row when (octet_length(new.metadata::text) > 65536)
  execute function private.refuse_large_document('conversations.metadata holds at most 65536 bytes of JSON text');
create or replace trigger conversations_limit_document_size_on_update before update of metadata on public.conversations
  for each row when (new.metadata is distinct from old.metadata and octet_length(new.metadata::text) > 65536)
  execute function private.refuse_large_document('conversations.metadata holds at most 65536 bytes of JSON text');
create or replace trigger messages_limit_document_size_on_insert before insert on public.messages
  for each row when (octet_length(new.metadata::text) > 65536 or octet_length(new.tool_calls::text) > 262144)
  execute function private.refuse_large_document(
    'messages.metadata holds at most 65536 bytes of JSON text, messages.tool_calls 262144');
create or replace trigger messages_limit_document_size_on_update before update of metadata, tool_calls on public.messages
  for each row when (
    (new.metadata is distinct from old.metadata and octet_length(new.metadata::text) > 65536)
    or (new.tool_calls is distinct from old.tool_calls and octet_length(new.tool_calls::text) > 262144)
  )
  execute function private.refuse_large_document(
    'messages.metadata holds at most 65536 bytes of JSON text, messages.tool_calls 262144');

-- Invitations: the only way an auth account joins a tenant without the service role.
create table if not exists public.invitations (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  id uuid not null default gen_random_uuid(),
  email varchar(320) not null check (position('@' in email) > 1),
  role varchar(20) not null default 'member' check (role in ('owner', 'admin', 'member')),
  invited_by uuid,
  sent_by_service boolean not null default false,
  expires_at timestamptz not null,
  accepted_at timestamptz,
  member_id uuid,
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, invited_by) references public.users (tenant_id, id) on delete set null (invited_by),
  foreign key (tenant_id, member_id) references public.users (tenant_id, id) on delete set null (member_id)
);
comment on table public.invitations is 'An invitation to join a tenant, accepted once by the invited auth account with its token.';
comment on column public.invitations.invited_by is 'The admin or owner who invited; null when the service role did, or once that member is deleted.';
comment on column public.invitations.sent_by_service is 'Sent by the service role: no member''s standing to check when it is accepted.';
comment on column public.invitations.member_id is 'The membership the invitation became, once accepted.';
create unique index if not exists invitations_tenant_id_email_pending_key
  on public.invitations (tenant_id, lower(email)) where accepted_at is null;
create index if not exists invitations_tenant_id_invited_by_idx on public.invitations (tenant_id, invited_by);
create index if not exists invitations_tenant_id_member_id_idx on public.invitations (tenant_id, member_id);

alter table public.invitations enable row level security;
revoke all on public.invitations from anon, authenticated, service_role;
grant select, insert, update, delete on public.invitations to service_role;
grant select, delete on public.invitations to authenticated;

-- The tokens' hashes live out of the Data API's reach; only the invitation functions read them.
create table if not exists private.invitation_tokens (
  token_hash bytea primary key,
  tenant_id uuid not null,
  invitation_id uuid not null,
  constraint invitation_tokens_invitation_key unique (tenant_id, invitation_id),
  foreign key (tenant_id, invitation_id) references public.invitations (tenant_id, id) on delete cascade
);
comment on table private.invitation_tokens is 'SHA-256 of each pending invitation''s single-use token; the token itself is shown once, to the inviter.';
revoke all on private.invitation_tokens from public, anon, authenticated, service_role;

-- Role and status changes are an admin's (owner's, for the owner role). Applies to every
-- role that row-level security restricts: a role that merely inherits authenticated is
-- guarded too. Replaces the version that checked the role's name.
create or replace function private.guard_member_changes()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  scope record;
begin
  if tg_op = 'INSERT' or new.id <> old.id then
    -- concurrent writers of the same id queue here, so the check below sees the first one
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(new.id::text, 0));
    if exists (select 1 from public.users u where u.id = new.id and u.tenant_id <> new.tenant_id) then
      raise exception 'member id % is already taken', new.id using errcode = '23505';
    end if;
  end if;
  if (select private.role_bypasses_rls(current_user)) then
    return new;
  end if;
  select s.member_id, s.is_admin, s.is_owner into scope
    from private.caller_scopes() s where s.tenant_id = new.tenant_id;
  if tg_op = 'UPDATE' and new.display_name is distinct from old.display_name
     and new.id is distinct from scope.member_id then
    raise exception 'a display name is changed by its member only' using errcode = '42501';
  end if;
  if tg_op = 'UPDATE' and new.role = old.role and new.is_active = old.is_active then
    return new;
  end if;
  if not coalesce(scope.is_admin, false) then
    raise exception 'only an admin or owner may add members or change a member''s role or status'
      using errcode = '42501';
  end if;
  if (new.role = 'owner' or (tg_op = 'UPDATE' and old.role = 'owner')) and not scope.is_owner then
    raise exception 'only an owner may grant or revoke the owner role'
      using errcode = '42501';
  end if;
  return new;
end
$$;
comment on function private.guard_member_changes() is 'Trigger: member ids are unique; display names are their member''s; only admins change roles or status; only owners touch the owner role. Every role RLS restricts is guarded.';

-- A tenant that has an active owner who can sign in keeps one, whoever writes (the service
-- role too). The tenant row is locked first, and the remaining owners' rows too: under READ
-- COMMITTED two owners demoting each other then see each other's change, and under
-- REPEATABLE READ the second fails with a serialization error instead of reading a stale
-- snapshot.
create or replace function private.keep_an_owner()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if not (old.role = 'owner' and old.is_active and old.auth_id is not null) then
    return null;
  end if;
  if tg_op = 'UPDATE' and new.role = 'owner' and new.is_active and new.tenant_id = old.tenant_id
     and (new.auth_id is not null or not exists (select 1 from auth.users a where a.id = old.auth_id)) then
    -- still an owner who can sign in; or the account is gone from Supabase Auth, whose
    -- foreign key unlinks it: that is Auth's to decide
    return null;
  end if;
  -- a tenant being deleted takes its members with it
  perform 1 from public.tenants t where t.id = old.tenant_id for update;
  if not found then
    return null;
  end if;
  perform 1 from public.users u
   where u.tenant_id = old.tenant_id and u.role = 'owner' and u.is_active and u.auth_id is not null
     and u.id <> old.id
     for update;
  if not found then
    raise exception 'tenant % would be left without an active owner: transfer ownership first', old.tenant_id
      using errcode = '23514';
  end if;
  return null;
end
$$;
comment on function private.keep_an_owner() is 'Trigger: refuses a change or delete that leaves a tenant without an active owner who can sign in.';
revoke all on function private.keep_an_owner() from public;

create or replace trigger users_keep_an_owner after update or delete on public.users
  for each row execute function private.keep_an_owner();

-- Messages: the owner comes from the conversation as the writer can see it (RLS applies,
-- so a conversation that is missing and one that is not yours look the same); the
-- conversation is touched only after the insert has passed its policy.
create or replace function private.set_message_owner()
returns trigger
language plpgsql
set search_path = ''
as $$
declare
  owner_id uuid;
begin
  select c.user_id into owner_id
    from public.conversations c
   where c.tenant_id = new.tenant_id and c.id = new.conversation_id;
  -- a back end writing for a member names them: a turn for someone else's thread is refused,
  -- alike whether the thread is another's or missing
  if new.user_id is not null and new.user_id is distinct from owner_id then
    raise exception 'conversation % does not exist or is not member %''s', new.conversation_id, new.user_id
      using errcode = '42501';
  end if;
  if owner_id is null then
    if (select private.role_bypasses_rls(current_user)) then
      raise exception 'conversation % does not exist in this tenant', new.conversation_id
        using errcode = '23503';
    end if;
    raise exception 'conversation % does not exist or is not yours', new.conversation_id
      using errcode = '42501';
  end if;
  new.user_id := owner_id;
  return new;
end
$$;
comment on column public.messages.user_id is 'The member whose conversation this is: taken from the conversation by trigger; a writer that sends it must send that member.';
comment on function private.set_message_owner() is 'Trigger: sets messages.user_id from the conversation the writer can see (a writer that names a member must name its owner); a missing conversation and another member''s are refused alike.';
revoke all on function private.set_message_owner() from public;

create or replace function private.count_message()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update public.conversations c
     set message_count = c.message_count + 1,
         last_message_at = greatest(c.last_message_at, new.created_at)
   where c.tenant_id = new.tenant_id and c.id = new.conversation_id;
  return null;
end
$$;
comment on function private.count_message() is 'Trigger: after a message is stored, bumps its conversation''s message_count, last_message_at and updated_at.';
revoke all on function private.count_message() from public;

drop trigger if exists messages_attach on public.messages;
drop function if exists private.attach_message();
create or replace trigger messages_set_owner before insert on public.messages
  for each row execute function private.set_message_owner();
create or replace trigger messages_count after insert on public.messages
  for each row execute function private.count_message();

-- Column privileges: ids and auth links are not the caller's to choose (a chosen id that
-- collides says "this exists" about a row the caller cannot see); members write the text
-- of their own turns, not model, token or tool fields.
revoke insert on public.users from authenticated;
grant insert (tenant_id, email, display_name, role, is_active) on public.users to authenticated;
revoke insert on public.conversations from authenticated;
grant insert (tenant_id, user_id, title, metadata, is_archived) on public.conversations to authenticated;
revoke insert on public.messages from authenticated;
grant insert (tenant_id, conversation_id, role, content, metadata) on public.messages to authenticated;
revoke insert on public.feedback from authenticated;
grant insert (tenant_id, message_id, user_id, rating, comment) on public.feedback to authenticated;

-- Policies, one per command, all matching against the caller's (tenant, member) pairs.
-- Each read first bounds the row's tenant by an array of the caller's tenants, taken once
-- per statement: an index condition, so a read that does not name its tenant (a Data API
-- filter on id or conversation_id alone) is still an index read of the caller's tenants,
-- never a scan of the platform. Then "own rows, or any row of a tenant I administer" reads
-- the caller's scopes once (offset 0 keeps the planner from copying the call) and probes
-- them per row; "own rows only" is a hashed (tenant, member) lookup.
drop policy if exists "Members can read their own tenant" on public.tenants;
create policy "Members can read their own tenant" on public.tenants
  for select to authenticated
  using (id = any (array(select s.tenant_id from private.caller_scopes() s)));

drop policy if exists "Owners can update their tenant" on public.tenants;
create policy "Owners can update their tenant" on public.tenants
  for update to authenticated
  using (id = any (array(select s.tenant_id from private.caller_scopes() s where s.is_owner)))
  with check (id = any (array(select s.tenant_id from private.caller_scopes() s where s.is_owner)));

drop policy if exists "Members can read the members of their tenant" on public.users;
create policy "Members can read the members of their tenant" on public.users
  for select to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s)));

drop policy if exists "Admins can add members to their tenant" on public.users;
create policy "Admins can add members to their tenant" on public.users
  for insert to authenticated
  with check (auth_id is null and tenant_id = any (array(select s.tenant_id from private.caller_scopes() s where s.is_admin)));

drop policy if exists "Members can edit their own profile and admins any member of their tenant" on public.users;
create policy "Members can edit their own profile and admins any member of their tenant" on public.users
  for update to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and exists (
      select 1 from (select * from private.caller_scopes() offset 0) s
      where s.tenant_id = users.tenant_id and (s.is_admin or s.member_id = users.id)
    )
  )
  with check (
    exists (
      select 1 from (select * from private.caller_scopes() offset 0) s
      where s.tenant_id = users.tenant_id and (s.is_admin or s.member_id = users.id)
    )
  );

drop policy if exists "Members can read their own conversations and admins all in their tenant" on public.conversations;
create policy "Members can read their own conversations and admins all in their tenant" on public.conversations
  for select to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and exists (
      select 1 from (select * from private.caller_scopes() offset 0) s
      where s.tenant_id = conversations.tenant_id and (s.is_admin or s.member_id = conversations.user_id)
    )
  );

drop policy if exists "Members can start conversations of their own" on public.conversations;
create policy "Members can start conversations of their own" on public.conversations
  for insert to authenticated
  with check ((tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s));

drop policy if exists "Members can update and archive their own conversations" on public.conversations;
create policy "Members can update and archive their own conversations" on public.conversations
  for update to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and (tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s)
  )
  with check ((tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s));

drop policy if exists "Members can read messages of their own conversations and admins all in their tenant" on public.messages;
create policy "Members can read messages of their own conversations and admins all in their tenant" on public.messages
  for select to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and exists (
      select 1 from (select * from private.caller_scopes() offset 0) s
      where s.tenant_id = messages.tenant_id and (s.is_admin or s.member_id = messages.user_id)
    )
  );

drop policy if exists "Members can add messages to their own conversations" on public.messages;
drop policy if exists "Members can add user turns to their own conversations" on public.messages;
create policy "Members can add user turns to their own conversations" on public.messages
  for insert to authenticated
  with check (role = 'user' and (tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s));

drop policy if exists "Members can read their own feedback and admins all in their tenant" on public.feedback;
create policy "Members can read their own feedback and admins all in their tenant" on public.feedback
  for select to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and exists (
      select 1 from (select * from private.caller_scopes() offset 0) s
      where s.tenant_id = feedback.tenant_id and (s.is_admin or s.member_id = feedback.user_id)
    )
  );

-- the message must be one the member can read: the subquery is itself filtered by the
-- messages select policy
drop policy if exists "Members can rate messages they can read" on public.feedback;
create policy "Members can rate messages they can read" on public.feedback
  for insert to authenticated
  with check (
    (tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s)
    and exists (
      select 1 from public.messages m
      where m.tenant_id = feedback.tenant_id and m.id = feedback.message_id
    )
  );

drop policy if exists "Members can change their own feedback" on public.feedback;
create policy "Members can change their own feedback" on public.feedback
  for update to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and (tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s)
  )
  with check ((tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s));

drop policy if exists "Members can remove their own feedback" on public.feedback;
create policy "Members can remove their own feedback" on public.feedback
  for delete to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and (tenant_id, user_id) in (select s.tenant_id, s.member_id from private.caller_scopes() s)
  );

drop policy if exists "Members can read their own usage and admins all in their tenant" on public.usage_metrics;
create policy "Members can read their own usage and admins all in their tenant" on public.usage_metrics
  for select to authenticated
  using (
    tenant_id = any (array(select s.tenant_id from private.caller_scopes() s))
    and exists (
      select 1 from (select * from private.caller_scopes() offset 0) s
      where s.tenant_id = usage_metrics.tenant_id and (s.is_admin or s.member_id = usage_metrics.user_id)
    )
  );

drop policy if exists "Admins can read their tenant's invitations" on public.invitations;
create policy "Admins can read their tenant's invitations" on public.invitations
  for select to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s where s.is_admin)));

drop policy if exists "Admins can revoke their tenant's invitations" on public.invitations;
create policy "Admins can revoke their tenant's invitations" on public.invitations
  for delete to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s where s.is_admin)));

-- The array helpers the old policies used check tenant and member apart; nothing may use them again.
drop function if exists private.member_ids();
drop function if exists private.member_tenant_ids();
drop function if exists private.admin_tenant_ids();
drop function if exists private.owner_tenant_ids();
drop view if exists private.caller_memberships;

-- Invitations, memberships and ownership.
create or replace function public.invite_member(
  p_tenant_id uuid,
  p_email text,
  p_role text default 'member',
  p_valid_for interval default '7 days'
)
returns table (invitation_id uuid, token text, expires_at timestamptz)
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  scope record;
  invitation public.invitations;
  privileged boolean := (select private.role_bypasses_rls(private.invoker_role()));
  secret text := replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
begin
  if p_tenant_id is null or p_email is null or p_role is null or p_valid_for is null then
    raise exception 'tenant, email, role and validity are required' using errcode = '22004';
  end if;
  -- on the expiry itself: comparing intervals counts a month as 30 days, adding one does not
  if now() + p_valid_for <= now() or now() + p_valid_for > now() + interval '30 days' then
    raise exception 'an invitation is valid for more than nothing and at most 30 days' using errcode = '22023';
  end if;
  select s.member_id, s.is_admin, s.is_owner into scope
    from private.caller_scopes() s where s.tenant_id = p_tenant_id;
  if not privileged and not coalesce(scope.is_admin, false) then
    raise exception 'only an admin or owner of the tenant may invite' using errcode = '42501';
  end if;
  if not privileged and p_role = 'owner' and not scope.is_owner then
    raise exception 'only an owner may invite an owner' using errcode = '42501';
  end if;
  -- inviting an address again replaces its pending invitation: the old token stops working
  insert into public.invitations as i (tenant_id, email, role, invited_by, sent_by_service, expires_at)
  values (p_tenant_id, p_email, p_role, scope.member_id, privileged and scope.member_id is null, now() + p_valid_for)
  on conflict (tenant_id, lower(email)) where accepted_at is null do update
    set email = excluded.email, role = excluded.role, invited_by = excluded.invited_by,
        sent_by_service = excluded.sent_by_service,
        expires_at = excluded.expires_at, created_at = now()
  returning i.* into invitation;
  insert into private.invitation_tokens as k (token_hash, tenant_id, invitation_id)
  values (sha256(convert_to(secret, 'UTF8')), invitation.tenant_id, invitation.id)
  on conflict on constraint invitation_tokens_invitation_key do update set token_hash = excluded.token_hash;
  return query select invitation.id, secret, invitation.expires_at;
end
$$;
comment on function public.invite_member(uuid, text, text, interval) is
  'Invites an email address into the tenant with a role (admins; owner role by owners); returns the single-use token, shown only here.';

create or replace function public.accept_invitation(p_token text)
returns public.users
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  caller_email text;
  invitation public.invitations;
  joined public.users;
begin
  if caller is null or private.invoker_role() <> 'authenticated' then
    raise exception 'an invitation is accepted by a signed-in user' using errcode = '42501';
  end if;
  select i.* into invitation from private.invitation_tokens k
    join public.invitations i on i.tenant_id = k.tenant_id and i.id = k.invitation_id
    join public.tenants t on t.id = i.tenant_id and t.is_active
   where k.token_hash = sha256(convert_to(coalesce(p_token, ''), 'UTF8'))
     and i.accepted_at is null and i.expires_at > now()
   for update of i;
  if invitation.id is null then
    raise exception 'no such invitation, or it was used, revoked or has expired' using errcode = 'P0002';
  end if;
  -- the invitation is only as good as its sender's standing now: a sender since deactivated,
  -- demoted, removed or unlinked from their account can no longer bring anyone in (an
  -- invitation of the service role's has no sender to check)
  if not invitation.sent_by_service and not exists (
    select 1 from public.users u
    where u.tenant_id = invitation.tenant_id and u.id = invitation.invited_by and u.is_active
      and u.auth_id is not null
      and (u.role = 'owner' or (u.role = 'admin' and invitation.role <> 'owner'))
  ) then
    raise exception 'the member who sent this invitation may no longer invite' using errcode = '42501';
  end if;
  select u.email into caller_email from auth.users u where u.id = caller;
  if caller_email is null or lower(caller_email) <> lower(invitation.email) then
    raise exception 'this invitation is for another email address' using errcode = '42501';
  end if;
  if exists (select 1 from public.users u where u.tenant_id = invitation.tenant_id and u.auth_id = caller) then
    raise exception 'you are already a member of this tenant' using errcode = '23505';
  end if;
  -- a member row added for this address, with no account yet, becomes theirs; an owner row
  -- only through an owner's invitation (only owners invite owners), as the guard would rule
  update public.users u
     set auth_id = caller, role = invitation.role, is_active = true
   where u.tenant_id = invitation.tenant_id and lower(u.email) = lower(invitation.email) and u.auth_id is null
     and (u.role <> 'owner' or invitation.role = 'owner')
  returning u.* into joined;
  if joined.id is null then
    insert into public.users (tenant_id, auth_id, email, role)
    values (invitation.tenant_id, caller, invitation.email, invitation.role)
    returning * into joined;
  end if;
  update public.invitations i set accepted_at = now(), member_id = joined.id
   where i.tenant_id = invitation.tenant_id and i.id = invitation.id;
  return joined;
end
$$;
comment on function public.accept_invitation(text) is
  'Joins the signed-in user to the inviting tenant: the token must be valid, unused, unexpired and for the user''s own email.';

create or replace function public.my_memberships()
returns table (tenant_id uuid, tenant_name varchar, tenant_slug varchar, member_id uuid, role varchar)
language sql stable security definer
set search_path = ''
as $$
  select t.id, t.name, t.slug, u.id, u.role
  from private.caller_scopes() s
  join public.tenants t on t.id = s.tenant_id
  join public.users u on u.tenant_id = s.tenant_id and u.id = s.member_id
  order by t.name, t.id
$$;
comment on function public.my_memberships() is 'The signed-in user''s active memberships in active tenants, for choosing a tenant.';

create or replace function public.transfer_ownership(p_tenant_id uuid, p_member_id uuid)
returns public.users
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  me uuid;
  promoted public.users;
begin
  select s.member_id into me
    from private.caller_scopes() s where s.tenant_id = p_tenant_id and s.is_owner;
  if me is null then
    raise exception 'only an owner of the tenant may transfer its ownership' using errcode = '42501';
  end if;
  if p_member_id = me then
    raise exception 'you already own this tenant' using errcode = '22023';
  end if;
  update public.users u set role = 'owner'
   where u.tenant_id = p_tenant_id and u.id = p_member_id and u.is_active and u.auth_id is not null
  returning u.* into promoted;
  if promoted.id is null then
    raise exception 'no active member % with an account in this tenant', p_member_id using errcode = 'P0002';
  end if;
  update public.users u set role = 'admin' where u.tenant_id = p_tenant_id and u.id = me;
  return promoted;
end
$$;
comment on function public.transfer_ownership(uuid, uuid) is
  'Makes an active member the tenant''s owner and the calling owner an admin, in one statement.';

-- Summaries and search: the caller's scopes first, then one indexed query per tenant (a
-- loop, so the plan is always "this tenant by index", never a join the planner could turn
-- into a scan of every tenant's rows).
drop function if exists public.message_feedback_summary(uuid);
create or replace function public.message_feedback_summary(p_conversation_id uuid default null, p_tenant_id uuid default null)
returns table (
  tenant_id uuid,
  message_id uuid,
  conversation_id uuid,
  conversation_user_id uuid,
  positive_count bigint,
  negative_count bigint,
  total_count bigint,
  score bigint,
  last_feedback_at timestamptz
)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  scope record;
begin
  if (select private.role_bypasses_rls(private.invoker_role())) then
    return query
      select s.tenant_id, s.message_id, s.conversation_id, s.conversation_user_id,
             s.positive_count, s.negative_count, s.total_count, s.score, s.last_feedback_at
      from private.message_feedback_summary s
      where (p_tenant_id is null or s.tenant_id = p_tenant_id)
        and (p_conversation_id is null or s.conversation_id = p_conversation_id);
    return;
  end if;
  for scope in
    select c.tenant_id, c.member_id, c.is_admin from private.caller_scopes() c
    where p_tenant_id is null or c.tenant_id = p_tenant_id
  loop
    return query
      select s.tenant_id, s.message_id, s.conversation_id, s.conversation_user_id,
             s.positive_count, s.negative_count, s.total_count, s.score, s.last_feedback_at
      from private.message_feedback_summary s
      where s.tenant_id = scope.tenant_id
        and (scope.is_admin or s.conversation_user_id = scope.member_id)
        and (p_conversation_id is null or s.conversation_id = p_conversation_id);
  end loop;
end
$$;
comment on function public.message_feedback_summary(uuid, uuid) is
  'Feedback totals per message the caller may read (admins: their tenant; members: their own conversations, every rating of them counted), optionally for one conversation or tenant.';

drop function if exists public.monthly_usage_summary(date, date);
create or replace function public.monthly_usage_summary(
  p_from date default null, p_to date default null, p_tenant_id uuid default null
)
returns table (
  tenant_id uuid,
  user_id uuid,
  month date,
  request_count bigint,
  prompt_tokens bigint,
  completion_tokens bigint,
  total_tokens bigint,
  cost_usd numeric,
  active_days integer
)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  scope record;
begin
  if (select private.role_bypasses_rls(private.invoker_role())) then
    return query
      select s.tenant_id, s.user_id, s.month, s.request_count, s.prompt_tokens,
             s.completion_tokens, s.total_tokens, s.cost_usd, s.active_days
      from private.monthly_usage_summary s
      where (p_tenant_id is null or s.tenant_id = p_tenant_id)
        and (p_from is null or s.month >= date_trunc('month', p_from)::date)
        and (p_to is null or s.month <= p_to);
    return;
  end if;
  for scope in
    select c.tenant_id, c.member_id, c.is_admin from private.caller_scopes() c
    where p_tenant_id is null or c.tenant_id = p_tenant_id
  loop
    return query
      select s.tenant_id, s.user_id, s.month, s.request_count, s.prompt_tokens,
             s.completion_tokens, s.total_tokens, s.cost_usd, s.active_days
      from private.monthly_usage_summary s
      where s.tenant_id = scope.tenant_id
        and (scope.is_admin or s.user_id = scope.member_id)
        and (p_from is null or s.month >= date_trunc('month', p_from)::date)
        and (p_to is null or s.month <= p_to);
  end loop;
end
$$;
comment on function public.monthly_usage_summary(date, date, uuid) is
  'Monthly usage rows the caller may read (admins: their tenant; members: their own), months from p_from through p_to, optionally for one tenant.';

-- Full-text search bounded by tenant inside the index itself: each message's document
-- carries a lexeme naming its tenant, one the text parser can never produce (it holds a
-- space), and every search asks for it. The index then hands back only that tenant's
-- candidates, whatever the words, so no query makes the database read other tenants'
-- matches. (An index on content alone served a tenant's search by reading every tenant's
-- matches; and under RLS it cannot serve a member at all, @@ not being leakproof.)
create or replace function private.search_document(p_tenant_id uuid, p_content text)
returns tsvector
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.to_tsvector('english'::regconfig, p_content)
      || pg_catalog.array_to_tsvector(array['tenant ' || p_tenant_id::text])
$$;
comment on function private.search_document(uuid, text) is 'A message''s English full-text document plus a lexeme naming its tenant; the expression of messages_tenant_search_idx.';

create or replace function private.search_query(p_tenant_id uuid, p_query text)
returns tsquery
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.websearch_to_tsquery('english'::regconfig, p_query)
      && pg_catalog.quote_literal('tenant ' || p_tenant_id::text)::tsquery
$$;
comment on function private.search_query(uuid, text) is 'A web-search query (English) restricted to one tenant''s documents, for messages_tenant_search_idx.';

revoke all on function private.search_document(uuid, text), private.search_query(uuid, text) from public;
grant execute on function private.search_document(uuid, text), private.search_query(uuid, text)
  to authenticated, service_role;

create index if not exists messages_tenant_search_idx
  on public.messages using gin (private.search_document(tenant_id, content));
comment on index public.messages_tenant_search_idx is
  'Full-text index whose documents carry their tenant: a search reads one tenant''s candidates only.';
drop index if exists public.messages_content_search_idx;

create or replace function public.search_messages(
  p_query text, p_tenant_id uuid default null, p_conversation_id uuid default null, p_limit integer default 20,
  p_member_id uuid default null
)
returns setof public.messages
language plpgsql stable security definer
set search_path = ''
as $$
declare
  scope record;
  hits public.messages[] := array[]::public.messages[];
  batch public.messages[];
  privileged boolean := (select private.role_bypasses_rls(private.invoker_role()));
begin
  if p_query is null then
    raise exception 'a search needs a query' using errcode = '22004';
  end if;
  if length(p_query) > 1000 or numnode(websearch_to_tsquery('english'::regconfig, p_query)) > 64 then
    raise exception 'a search takes at most 1000 characters and 32 terms' using errcode = '22023';
  end if;
  if p_limit is null or p_limit < 1 or p_limit > 1000 then
    raise exception 'limit must be between 1 and 1000' using errcode = '22023';
  end if;
  -- the tenants to search: for the service role the named one (or all), for the member it
  -- may name; for anyone else their memberships
  for scope in
    select t.id as tenant_id, p_member_id as member_id, p_member_id is null as is_admin
    from public.tenants t
    where privileged and (p_tenant_id is null or t.id = p_tenant_id)
    union all
    select c.tenant_id, c.member_id, c.is_admin from private.caller_scopes() c
    where not privileged and (p_tenant_id is null or c.tenant_id = p_tenant_id)
  loop
    select array_agg(x.m order by (x.m).created_at desc, (x.m).id desc) into batch from (
      select c.m from (
        -- the tenant's candidates from the full-text index; offset 0 keeps the member and
        -- conversation filters out, so the planner cannot trade the index for reading
        -- every message of the member and parsing each one again
        select m, m.user_id, m.conversation_id, m.created_at, m.id from public.messages m
        where m.tenant_id = scope.tenant_id
          and private.search_document(m.tenant_id, m.content) @@ private.search_query(scope.tenant_id, p_query)
        offset 0
      ) c
      where (scope.is_admin or c.user_id = scope.member_id)
        and (p_conversation_id is null or c.conversation_id = p_conversation_id)
      order by c.created_at desc, c.id desc
      limit p_limit
    ) x;
    hits := hits || coalesce(batch, array[]::public.messages[]);
  end loop;
  return query select * from unnest(hits) f order by f.created_at desc, f.id desc limit p_limit;
end
$$;
comment on function public.search_messages(text, uuid, uuid, integer, uuid) is
  'Full-text search (web-search syntax, English; at most 32 terms) over the messages the caller may read, newest first, one tenant at a time through messages_tenant_search_idx. The service role may pass p_member_id to search as that member''s back end.';

revoke all on function public.invite_member(uuid, text, text, interval), public.accept_invitation(text),
  public.my_memberships(), public.transfer_ownership(uuid, uuid),
  public.message_feedback_summary(uuid, uuid), public.monthly_usage_summary(date, date, uuid),
  public.search_messages(text, uuid, uuid, integer, uuid)
  from public, anon, authenticated;
grant execute on function public.invite_member(uuid, text, text, interval), public.accept_invitation(text),
  public.my_memberships(), public.transfer_ownership(uuid, uuid),
  public.message_feedback_summary(uuid, uuid), public.monthly_usage_summary(date, date, uuid),
  public.search_messages(text, uuid, uuid, integer, uuid)
  to authenticated, service_role;
