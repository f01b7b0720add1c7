-- Inverse of 20261122210000_member_isolation.sql: the array helpers, their policies,
-- the definer message trigger and the earlier function signatures, exactly as before.

drop function if exists public.search_messages(text, uuid, uuid, integer, uuid);
create index if not exists messages_content_search_idx
  on public.messages using gin (to_tsvector('english'::regconfig, content));
comment on index public.messages_content_search_idx is
  'English full-text index over message content, for wfts(english) searches.';
drop index if exists public.messages_tenant_search_idx;
drop function if exists private.search_query(uuid, text);
drop function if exists private.search_document(uuid, text);
drop function if exists public.monthly_usage_summary(date, date, uuid);
drop function if exists public.message_feedback_summary(uuid, uuid);
drop function if exists public.transfer_ownership(uuid, uuid);
drop function if exists public.my_memberships();
drop function if exists public.accept_invitation(text);
drop function if exists public.invite_member(uuid, text, text, interval);
drop table if exists private.invitation_tokens;
drop table if exists public.invitations;

drop trigger if exists users_keep_an_owner on public.users;
drop function if exists private.keep_an_owner();
drop trigger if exists messages_count on public.messages;
drop trigger if exists messages_set_owner on public.messages;
drop function if exists private.count_message();
drop function if exists private.set_message_owner();
comment on column public.messages.user_id is 'The member whose conversation this is, copied from the conversation by trigger whatever the writer sends.';

drop trigger if exists messages_limit_document_size_on_update on public.messages;
drop trigger if exists messages_limit_document_size_on_insert on public.messages;
drop trigger if exists conversations_limit_document_size_on_update on public.conversations;
drop trigger if exists conversations_limit_document_size_on_insert on public.conversations;
drop trigger if exists tenants_limit_document_size_on_update on public.tenants;
drop trigger if exists tenants_limit_document_size_on_insert on public.tenants;
drop function if exists private.refuse_large_document();
drop index if exists public.users_id_idx;

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

revoke insert on public.users from authenticated;
grant insert (id, tenant_id, auth_id, email, display_name, role, is_active) on public.users to authenticated;

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

-- Before a message is stored: take its owner from the conversation and bump the
-- conversation's counters. security definer so the lookup sees the conversation whoever
-- writes; the insert policy then decides whether the writer may add to it.
create or replace function private.attach_message()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  owner_id uuid;
begin
  update public.conversations c
     set message_count = c.message_count + 1,
         last_message_at = greatest(c.last_message_at, new.created_at)
   where c.tenant_id = new.tenant_id and c.id = new.conversation_id
  returning c.user_id into owner_id;
  if owner_id is null then
    raise exception 'conversation % does not exist in this tenant', new.conversation_id
      using errcode = '23503';
  end if;
  new.user_id := owner_id;
  return new;
end
$$;
comment on function private.attach_message() is 'Trigger: sets messages.user_id from the conversation and bumps its message_count, last_message_at and updated_at.';
revoke all on function private.attach_message() from public;

create or replace trigger messages_attach before insert on public.messages
  for each row execute function private.attach_message();

revoke insert on public.conversations from authenticated;
grant insert (id, tenant_id, user_id, title, metadata, is_archived) on public.conversations to authenticated;
revoke insert on public.feedback from authenticated;
grant insert (id, tenant_id, message_id, user_id, rating, comment) on public.feedback to authenticated;
revoke insert on public.messages from authenticated;
grant insert (id, tenant_id, conversation_id, role, content, tool_calls, model, token_count, latency_ms, metadata)
  on public.messages to authenticated;

drop policy if exists "Members can add user turns to their own conversations" on public.messages;
drop policy if exists "Members can read their own conversations and admins all in their tenant" on public.conversations;
create policy "Members can read their own conversations and admins all in their tenant" on public.conversations
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

drop policy if exists "Members can start conversations of their own" on public.conversations;
create policy "Members can start conversations of their own" on public.conversations
  for insert to authenticated
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can update and archive their own conversations" on public.conversations;
create policy "Members can update and archive their own conversations" on public.conversations
  for update to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]))
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can read messages of their own conversations and admins all in their tenant" on public.messages;
create policy "Members can read messages of their own conversations and admins all in their tenant" on public.messages
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

drop policy if exists "Members can add messages to their own conversations" on public.messages;
create policy "Members can add messages to their own conversations" on public.messages
  for insert to authenticated
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can read their own feedback and admins all in their tenant" on public.feedback;
create policy "Members can read their own feedback and admins all in their tenant" on public.feedback
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

-- the message must be one the member can read: the subquery is itself filtered by the
-- messages select policy
drop policy if exists "Members can rate messages they can read" on public.feedback;
create policy "Members can rate messages they can read" on public.feedback
  for insert to authenticated
  with check (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and user_id = any((select private.member_ids())::uuid[])
    and exists (
      select 1 from public.messages m
      where m.tenant_id = feedback.tenant_id and m.id = feedback.message_id
    )
  );

drop policy if exists "Members can change their own feedback" on public.feedback;
create policy "Members can change their own feedback" on public.feedback
  for update to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]))
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can remove their own feedback" on public.feedback;
create policy "Members can remove their own feedback" on public.feedback
  for delete to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can read their own usage and admins all in their tenant" on public.usage_metrics;
create policy "Members can read their own usage and admins all in their tenant" on public.usage_metrics
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

create or replace function public.message_feedback_summary(p_conversation_id uuid default null)
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
language sql stable security definer
set search_path = ''
as $$
  select s.tenant_id, s.message_id, s.conversation_id, s.conversation_user_id,
         s.positive_count, s.negative_count, s.total_count, s.score, s.last_feedback_at
  from private.message_feedback_summary s
  where (p_conversation_id is null or s.conversation_id = p_conversation_id)
    and (
      (select auth.role()) = 'service_role'
      or s.tenant_id = any((select private.admin_tenant_ids())::uuid[])
      or (s.tenant_id = any((select private.member_tenant_ids())::uuid[])
          and s.conversation_user_id = any((select private.member_ids())::uuid[]))
    )
$$;
comment on function public.message_feedback_summary(uuid) is
  'Feedback totals per message the caller may read (admins: their tenant; members: their own conversations), optionally for one conversation.';

create or replace function public.monthly_usage_summary(p_from date default null, p_to date default null)
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
language sql stable security definer
set search_path = ''
as $$
  select s.tenant_id, s.user_id, s.month, s.request_count, s.prompt_tokens,
         s.completion_tokens, s.total_tokens, s.cost_usd, s.active_days
  from private.monthly_usage_summary s
  where (p_from is null or s.month >= date_trunc('month', p_from)::date)
    and (p_to is null or s.month <= p_to)
    and (
      (select auth.role()) = 'service_role'
      or s.tenant_id = any((select private.admin_tenant_ids())::uuid[])
      or (s.tenant_id = any((select private.member_tenant_ids())::uuid[])
          and s.user_id = any((select private.member_ids())::uuid[]))
    )
$$;
comment on function public.monthly_usage_summary(date, date) is
  'Monthly usage rows the caller may read (admins: their tenant; members: their own), months from p_from through p_to.';

revoke all on function public.message_feedback_summary(uuid), public.monthly_usage_summary(date, date)
  from public, anon, authenticated;
grant execute on function public.message_feedback_summary(uuid), public.monthly_usage_summary(date, date)
  to authenticated, service_role;

drop function if exists private.caller_scopes();
drop function if exists private.role_bypasses_rls(name);
drop function if exists private.invoker_role();
