-- Data governance: an append-only audit log written by triggers and by the governance
-- functions themselves; export records; erasure of a member, a conversation or a whole
-- tenant; redaction of a message; per-tenant retention applied in bounded batches.
--
-- The functions that remove rows run as the tables' owner (security definer) after checking
-- the caller by the role its statement runs as and its memberships, never by a claim. A
-- subject the caller may not touch and a missing one give the same error (P0002).

-- supatenant: allow tenant-reference because an erased tenant's last, pseudonymous event outlives the tenant
create table if not exists public.audit_events (
  tenant_id uuid not null,
  id uuid not null default gen_random_uuid(),
  seq bigint generated always as identity,
  occurred_at timestamptz not null default now(),
  actor_role text not null,
  actor_auth_id uuid,
  actor_member_id uuid,
  action varchar(40) not null check (action in (
    'member.add', 'member.change', 'member.remove', 'member.erase',
    'tenant.create', 'tenant.change', 'tenant.erase',
    'conversation.erase', 'message.redact', 'export', 'retention.apply'
  )),
  subject_type varchar(20) not null check (subject_type in ('tenant', 'member', 'conversation', 'message')),
  subject_id uuid,
  before jsonb,
  after jsonb,
  primary key (tenant_id, id)
);
comment on table public.audit_events is 'Append-only record of membership, tenant, export, erasure, redaction and retention events; tenant admins read their tenant''s, nobody changes them (an erasure replaces the erased person''s data with a pseudonym).';
comment on column public.audit_events.seq is 'The order events were written in (occurred_at is their transaction''s start).';
comment on column public.audit_events.actor_role is 'The database role the change ran as (authenticated, service_role, or a login role).';
comment on column public.audit_events.actor_auth_id is 'The Supabase Auth user who acted; null for the service role, or once that person is erased.';
comment on column public.audit_events.actor_member_id is 'The acting auth user''s membership in this tenant, if any (a pseudonym once erased).';
comment on column public.audit_events.subject_id is 'The tenant, member, conversation or message the event is about (a pseudonym once erased).';
comment on column public.audit_events.before is 'The changed columns before the change.';
comment on column public.audit_events.after is 'The changed columns after the change, or what an action did (row counts).';
create index if not exists audit_events_tenant_id_seq_idx on public.audit_events (tenant_id, seq desc);
create index if not exists audit_events_tenant_id_subject_id_idx on public.audit_events (tenant_id, subject_id);
create index if not exists audit_events_tenant_id_actor_member_id_idx on public.audit_events (tenant_id, actor_member_id);

alter table public.audit_events enable row level security;
revoke all on public.audit_events from anon, authenticated, service_role;
grant select on public.audit_events to authenticated, service_role;

drop policy if exists "Admins can read their tenant's audit events" on public.audit_events;
create policy "Admins can read their tenant's audit events" on public.audit_events
  for select to authenticated
  using (tenant_id = any (array(select s.tenant_id from private.caller_scopes() s where s.is_admin)));

-- Nobody updates or deletes an event; only an erasure (which sets this transaction-local
-- flag while it pseudonymises or removes the erased subject's events) may.
create or replace function private.keep_audit_events()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if coalesce(pg_catalog.current_setting('supatenant.audit_rewrite', true), '') <> 'on' then
    raise exception 'audit events are append-only' using errcode = '42501';
  end if;
  return case when tg_op = 'DELETE' then old else new end;
end
$$;
comment on function private.keep_audit_events() is 'Trigger: refuses any update or delete of an audit event outside an erasure.';
revoke all on function private.keep_audit_events() from public;

create or replace trigger audit_events_append_only before update or delete on public.audit_events
  for each row execute function private.keep_audit_events();

-- One event, with whoever runs the calling statement as its actor.
create or replace function private.write_audit(
  p_tenant_id uuid, p_action text, p_subject_type text, p_subject_id uuid, p_before jsonb, p_after jsonb
)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  caller uuid := (select auth.uid());
  written uuid;
begin
  insert into public.audit_events
    (tenant_id, actor_role, actor_auth_id, actor_member_id, action, subject_type, subject_id, before, after)
  values (
    p_tenant_id, private.invoker_role(),
    -- an account erased in this very transaction (its owner erasing their tenant) is not named
    (select a.id from auth.users a where a.id = caller),
    (select u.id from public.users u where u.tenant_id = p_tenant_id and u.auth_id = caller and caller is not null),
    p_action, p_subject_type, p_subject_id, p_before, p_after
  )
  returning id into written;
  return written;
end
$$;
comment on function private.write_audit(uuid, text, text, uuid, jsonb, jsonb) is 'Appends one audit event, its actor taken from the role and auth user of the calling statement.';
revoke all on function private.write_audit(uuid, text, text, uuid, jsonb, jsonb) from public;

-- The columns that changed, as {column: value} before and after.
create or replace function private.changed_columns(p_old jsonb, p_new jsonb, p_columns text[])
returns table (before jsonb, after jsonb)
language sql immutable
set search_path = ''
as $$
  select pg_catalog.jsonb_object_agg(c, p_old -> c) filter (where p_old is not null),
         pg_catalog.jsonb_object_agg(c, p_new -> c) filter (where p_new is not null)
  from pg_catalog.unnest(p_columns) c
  where p_old is null or p_new is null or (p_old -> c) is distinct from (p_new -> c)
$$;
comment on function private.changed_columns(jsonb, jsonb, text[]) is 'Of p_columns, those whose value differs between the two row images, with their values before and after.';
revoke all on function private.changed_columns(jsonb, jsonb, text[]) from public;

create or replace function private.audit_membership()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  changes record;
begin
  select * into changes from private.changed_columns(
    case when tg_op <> 'INSERT' then pg_catalog.to_jsonb(old) end,
    case when tg_op <> 'DELETE' then pg_catalog.to_jsonb(new) end,
    array['email', 'role', 'is_active', 'auth_id']);
  if tg_op = 'UPDATE' and changes.after is null then
    return null;  -- a profile or timestamp change: not a membership change
  end if;
  perform private.write_audit(
    coalesce(new.tenant_id, old.tenant_id),
    case tg_op when 'INSERT' then 'member.add' when 'UPDATE' then 'member.change' else 'member.remove' end,
    'member', coalesce(new.id, old.id), changes.before, changes.after);
  return null;
end
$$;
comment on function private.audit_membership() is 'Trigger: records a member added, removed, or changed in email, role, status or account link.';
revoke all on function private.audit_membership() from public;

create or replace trigger users_audit after insert or update or delete on public.users
  for each row execute function private.audit_membership();

create or replace function private.audit_tenant()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  changes record;
begin
  select * into changes from private.changed_columns(
    case when tg_op <> 'INSERT' then pg_catalog.to_jsonb(old) end,
    pg_catalog.to_jsonb(new),
    array['name', 'slug', 'plan', 'is_active', 'settings']);
  if tg_op = 'UPDATE' and changes.after is null then
    return null;
  end if;
  perform private.write_audit(
    new.id, case tg_op when 'INSERT' then 'tenant.create' else 'tenant.change' end,
    'tenant', new.id, changes.before, changes.after);
  return null;
end
$$;
comment on function private.audit_tenant() is 'Trigger: records a tenant created, or changed in name, slug, plan, status or settings.';
revoke all on function private.audit_tenant() from public;

create or replace trigger tenants_audit after insert or update on public.tenants
  for each row execute function private.audit_tenant();

-- Who may act on a subject. Each returns false alike for a subject that does not exist and
-- one the caller may not touch.
create or replace function private.may_govern(p_tenant_id uuid, p_owner_only boolean)
returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if (select private.role_bypasses_rls(private.invoker_role())) then
    return exists (select 1 from public.tenants t where t.id = p_tenant_id);
  end if;
  return exists (
    select 1 from private.caller_scopes() s
    where s.tenant_id = p_tenant_id and s.is_admin and (s.is_owner or not p_owner_only)
  );
end
$$;
comment on function private.may_govern(uuid, boolean) is 'True when the tenant exists and the caller is the service role or an active admin (owner, if p_owner_only) of it.';
revoke all on function private.may_govern(uuid, boolean) from public;

create or replace function private.refuse_unknown(p_what text, p_id uuid)
returns void
language plpgsql
set search_path = ''
as $$
begin
  raise exception '% % does not exist or is not yours to act on', p_what, p_id using errcode = 'P0002';
end
$$;
comment on function private.refuse_unknown(text, uuid) is 'Raises the one error a missing subject and a forbidden one share (P0002).';
revoke all on function private.refuse_unknown(text, uuid) from public;

-- Deletes run through dynamic SQL from one place: the statements a governance function
-- issues when it is called, never while a migration runs.
create or replace function private.remove_rows(p_table text, p_condition text, p_args uuid[], p_batch integer default null)
returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
  removed bigint := 0;
  step bigint;
  keys text := case when p_table = 'usage_metrics' then 'tenant_id, user_id, usage_date' else 'tenant_id, id' end;
begin
  if p_batch is null then
    execute pg_catalog.format('delete from public.%I where %s', p_table, p_condition) using p_args;
    get diagnostics removed = row_count;
    return removed;
  end if;
  loop
    execute pg_catalog.format(
      'delete from public.%1$I where (%2$s) in (select %2$s from public.%1$I where %3$s limit %4$s)',
      p_table, keys, p_condition, p_batch) using p_args;
    get diagnostics step = row_count;
    removed := removed + step;
    exit when step < p_batch;
  end loop;
  return removed;
end
$$;
comment on function private.remove_rows(text, text, uuid[], integer) is 'Deletes the rows of a public table that match a condition on $1 (a uuid array), in batches when p_batch is given; returns how many.';
revoke all on function private.remove_rows(text, text, uuid[], integer) from public;

-- An erased person's id, auth id and email replaced by the pseudonym in their tenant's
-- events (subject, actor, and the before/after images).
-- An audit image (a row's changed columns, or a function's details) with every value, at any
-- depth, that is one of the given ids or email addresses (compared whole, emails without
-- regard to case) replaced by the pseudonym; nothing else in it changes.
create or replace function private.pseudonymise_image(
  p_image jsonb, p_ids text[], p_emails text[], p_pseudonym uuid
)
returns jsonb
language plpgsql immutable
set search_path = ''
as $$
begin
  if p_image is null then
    return null;
  elsif pg_catalog.jsonb_typeof(p_image) = 'object' then
    return coalesce((select pg_catalog.jsonb_object_agg(j.key, private.pseudonymise_image(j.value, p_ids, p_emails, p_pseudonym))
                       from pg_catalog.jsonb_each(p_image) j), '{}'::jsonb);
  elsif pg_catalog.jsonb_typeof(p_image) = 'array' then
    return coalesce((select pg_catalog.jsonb_agg(private.pseudonymise_image(a.value, p_ids, p_emails, p_pseudonym) order by a.n)
                       from pg_catalog.jsonb_array_elements(p_image) with ordinality a(value, n)), '[]'::jsonb);
  elsif pg_catalog.jsonb_typeof(p_image) = 'string'
        and ((p_image #>> '{}') = any(p_ids) or pg_catalog.lower(p_image #>> '{}') = any(p_emails)) then
    return pg_catalog.to_jsonb(p_pseudonym::text);
  end if;
  return p_image;
end
$$;
comment on function private.pseudonymise_image(jsonb, text[], text[], uuid) is 'An audit image with each value, at any depth, equal to one of the ids or (any case) emails replaced by the pseudonym.';
revoke all on function private.pseudonymise_image(jsonb, text[], text[], uuid) from public;

-- An erased person's id, auth id and email replaced by the pseudonym in their tenant's
-- events (subject, actor, and the values of the before/after images, compared whole).
create or replace function private.pseudonymise_audit(
  p_tenant_id uuid, p_ids uuid[], p_emails text[], p_pseudonym uuid
)
returns bigint
language plpgsql security definer
set search_path = ''
as $$
declare
  rewritten bigint;
  ids text[] := array(select i::text from pg_catalog.unnest(p_ids) i where i is not null);
  emails text[] := array(select pg_catalog.lower(e) from pg_catalog.unnest(p_emails) e where e is not null);
begin
  if pg_catalog.cardinality(ids) + pg_catalog.cardinality(emails) = 0 then
    return 0;
  end if;
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'on', true);
  update public.audit_events e
     set subject_id = case when e.subject_id = any(p_ids) then p_pseudonym else e.subject_id end,
         actor_member_id = case when e.actor_member_id = any(p_ids) then p_pseudonym else e.actor_member_id end,
         actor_auth_id = case when e.actor_auth_id = any(p_ids) then null else e.actor_auth_id end,
         before = private.pseudonymise_image(e.before, ids, emails, p_pseudonym),
         after = private.pseudonymise_image(e.after, ids, emails, p_pseudonym)
   where e.tenant_id = p_tenant_id
     -- only events about or by the person, known by an id of theirs: an address alone could
     -- be someone else's (another member, another tenant's) and their events are not touched
     and (e.subject_id = any(p_ids) or e.actor_member_id = any(p_ids) or e.actor_auth_id = any(p_ids)
          or private.pseudonymise_image(e.before, ids, '{}', p_pseudonym) is distinct from e.before
          or private.pseudonymise_image(e.after, ids, '{}', p_pseudonym) is distinct from e.after);
  get diagnostics rewritten = row_count;
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'off', true);
  return rewritten;
end
$$;
comment on function private.pseudonymise_audit(uuid, uuid[], text[], uuid) is 'Replaces the given ids and email addresses with a pseudonym in a tenant''s audit events; returns how many events changed.';
revoke all on function private.pseudonymise_audit(uuid, uuid[], text[], uuid) from public;

-- The tenant's anonymous member, which holds the usage of erased members so the tenant's
-- totals never change. Inactive, without an account.
create or replace function private.erased_members_row(p_tenant_id uuid)
returns uuid
language plpgsql security definer
set search_path = ''
as $$
declare
  found_id uuid;
begin
  select u.id into found_id from public.users u
   where u.tenant_id = p_tenant_id and pg_catalog.lower(u.email) = 'erased-members@supatenant.invalid';
  if found_id is null then
    insert into public.users (tenant_id, email, display_name, role, is_active)
    values (p_tenant_id, 'erased-members@supatenant.invalid', 'Erased members', 'member', false)
    returning id into found_id;
  end if;
  return found_id;
end
$$;
comment on function private.erased_members_row(uuid) is 'The tenant''s inactive "Erased members" member, created on first use; it holds the usage of erased members.';
revoke all on function private.erased_members_row(uuid) from public;

-- Addresses at supatenant.invalid are the project's own (the "Erased members" row): only the
-- tables' owner (the erase functions) writes them, so no member row can pass for that row.
create or replace function private.reserve_own_addresses()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if pg_catalog.lower(new.email) like '%@supatenant.invalid'
     and current_user <> (select c.relowner::regrole::name from pg_catalog.pg_class c where c.oid = 'public.users'::regclass) then
    raise exception 'addresses at supatenant.invalid are reserved' using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.reserve_own_addresses() is 'Trigger: only the tables'' owner writes a member address at supatenant.invalid (the "Erased members" row).';
revoke all on function private.reserve_own_addresses() from public;
create or replace trigger users_reserve_own_addresses before insert or update of email on public.users
  for each row execute function private.reserve_own_addresses();

-- Nor is anyone invited at such an address: accepting would link an account to the row.
create or replace function private.refuse_reserved_invitations()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if pg_catalog.lower(new.email) like '%@supatenant.invalid' then
    raise exception 'addresses at supatenant.invalid are reserved' using errcode = '23514';
  end if;
  return new;
end
$$;
comment on function private.refuse_reserved_invitations() is 'Trigger: no invitation to an address at supatenant.invalid (the "Erased members" row''s).';
revoke all on function private.refuse_reserved_invitations() from public;
create or replace trigger invitations_refuse_reserved before insert or update of email on public.invitations
  for each row execute function private.refuse_reserved_invitations();

create or replace function public.erase_member(p_tenant_id uuid, p_member_id uuid)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  target public.users;
  anonymous uuid;
  pseudonym uuid := gen_random_uuid();
  counts jsonb := '{}'::jsonb;
  account_deleted boolean := false;
  n bigint;
begin
  if not private.may_govern(p_tenant_id, false) then
    perform private.refuse_unknown('member', p_member_id);
  end if;
  select u.* into target from public.users u
   where u.tenant_id = p_tenant_id and u.id = p_member_id
     and pg_catalog.lower(u.email) <> 'erased-members@supatenant.invalid'
   for update;
  if target.id is null
     or (target.role = 'owner' and not private.may_govern(p_tenant_id, true)) then
    perform private.refuse_unknown('member', p_member_id);
  end if;
  -- the threads' and messages' own events lose their subject first
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'on', true);
  update public.audit_events e set subject_id = gen_random_uuid()
   where e.tenant_id = p_tenant_id and e.subject_type = 'message'
     and e.subject_id in (select m.id from public.messages m where m.tenant_id = p_tenant_id and m.user_id = p_member_id);
  update public.audit_events e set subject_id = gen_random_uuid()
   where e.tenant_id = p_tenant_id and e.subject_type = 'conversation'
     and e.subject_id in (select c.id from public.conversations c where c.tenant_id = p_tenant_id and c.user_id = p_member_id);
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'off', true);
  -- usage goes to the tenant's anonymous total, day by day
  anonymous := private.erased_members_row(p_tenant_id);
  insert into public.usage_metrics as u
    (tenant_id, user_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
  select p_tenant_id, anonymous, m.usage_date, m.request_count, m.prompt_tokens, m.completion_tokens, m.cost_usd
    from public.usage_metrics m
   where m.tenant_id = p_tenant_id and m.user_id = p_member_id
   order by m.usage_date
  on conflict (tenant_id, user_id, usage_date) do update
    set request_count = u.request_count + excluded.request_count,
        prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        cost_usd = u.cost_usd + excluded.cost_usd,
        updated_at = now();
  counts := counts || jsonb_build_object('usage_rows', private.remove_rows(
    'usage_metrics', 'tenant_id = $1[1] and user_id = $1[2]', array[p_tenant_id, p_member_id]));
  counts := counts || jsonb_build_object('feedback', private.remove_rows(
    'feedback', 'tenant_id = $1[1] and user_id = $1[2]', array[p_tenant_id, p_member_id]));
  -- messages in batches: each statement's work (and its cascade to feedback) stays bounded
  counts := counts || jsonb_build_object('messages', private.remove_rows(
    'messages', 'tenant_id = $1[1] and user_id = $1[2]', array[p_tenant_id, p_member_id], 10000));
  counts := counts || jsonb_build_object('conversations', private.remove_rows(
    'conversations', 'tenant_id = $1[1] and user_id = $1[2]', array[p_tenant_id, p_member_id]));
  execute 'delete from public.invitations i where i.tenant_id = $1 and lower(i.email) = lower($2)'
    using p_tenant_id, target.email;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('invitations', n);
  perform private.remove_rows('users', 'tenant_id = $1[1] and id = $1[2]', array[p_tenant_id, p_member_id]);
  -- the account goes too when no other tenant knows it
  if target.auth_id is not null
     and not exists (select 1 from public.users u where u.auth_id = target.auth_id) then
    execute 'delete from auth.users a where a.id = $1' using target.auth_id;
    get diagnostics n = row_count;
    account_deleted := n > 0;
  end if;
  counts := counts || jsonb_build_object(
    'account_deleted', account_deleted,
    'audit_events_pseudonymised', private.pseudonymise_audit(
      p_tenant_id, array[p_member_id, target.auth_id], array[target.email], pseudonym));
  -- the person is gone from every tenant: so is their account id and address from the events
  -- other tenants keep of them (a membership added there and removed before)
  if account_deleted then
    perform private.pseudonymise_audit(o.tenant_id, array[target.auth_id], array[target.email], pseudonym)
       from (select distinct e.tenant_id from public.audit_events e where e.tenant_id <> p_tenant_id) o;
  end if;
  perform private.write_audit(p_tenant_id, 'member.erase', 'member', pseudonym, null, counts);
  -- the summaries hold the member's ids until refreshed
  perform public.refresh_summaries();
  return counts;
end
$$;
comment on function public.erase_member(uuid, uuid) is
  'Erases a member in one transaction: their conversations, messages, feedback, invitations, membership and (when no other tenant has them) auth account; their usage moves to the tenant''s anonymous total; their audit events keep a pseudonym. Admins (owners, to erase an owner) and the service role.';

create or replace function public.erase_conversation(p_tenant_id uuid, p_conversation_id uuid)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  pseudonym uuid := gen_random_uuid();
  counts jsonb;
  owner_id uuid;
begin
  if not private.may_govern(p_tenant_id, false) then
    perform private.refuse_unknown('conversation', p_conversation_id);
  end if;
  select c.user_id into owner_id from public.conversations c
   where c.tenant_id = p_tenant_id and c.id = p_conversation_id for update;
  if owner_id is null then
    perform private.refuse_unknown('conversation', p_conversation_id);
  end if;
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'on', true);
  update public.audit_events e set subject_id = gen_random_uuid()
   where e.tenant_id = p_tenant_id and e.subject_type = 'message'
     and e.subject_id in (select m.id from public.messages m
                           where m.tenant_id = p_tenant_id and m.conversation_id = p_conversation_id);
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'off', true);
  counts := jsonb_build_object(
    'feedback', (select count(*) from public.feedback f join public.messages m
                   on m.tenant_id = f.tenant_id and m.id = f.message_id
                 where m.tenant_id = p_tenant_id and m.conversation_id = p_conversation_id),
    'messages', private.remove_rows('messages', 'tenant_id = $1[1] and conversation_id = $1[2]',
                                    array[p_tenant_id, p_conversation_id], 10000),
    'conversations', private.remove_rows('conversations', 'tenant_id = $1[1] and id = $1[2]',
                                         array[p_tenant_id, p_conversation_id]));
  perform private.pseudonymise_audit(p_tenant_id, array[p_conversation_id], null, pseudonym);
  perform private.write_audit(p_tenant_id, 'conversation.erase', 'conversation', pseudonym, null, counts);
  perform public.refresh_summaries();
  return counts;
end
$$;
comment on function public.erase_conversation(uuid, uuid) is
  'Erases a conversation with its messages and their feedback in one transaction; usage is unchanged. Admins and the service role.';

create or replace function public.erase_tenant(p_tenant_id uuid)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  accounts uuid[];
  counts jsonb;
  n bigint;
begin
  if not private.may_govern(p_tenant_id, true) then
    perform private.refuse_unknown('tenant', p_tenant_id);
  end if;
  perform 1 from public.tenants t where t.id = p_tenant_id for update;
  select coalesce(array_agg(u.auth_id), '{}') into accounts from public.users u
   where u.tenant_id = p_tenant_id and u.auth_id is not null
     and not exists (select 1 from public.users o where o.auth_id = u.auth_id and o.tenant_id <> p_tenant_id);
  counts := jsonb_build_object(
    'messages', private.remove_rows('messages', 'tenant_id = $1[1]', array[p_tenant_id], 10000),
    'conversations', private.remove_rows('conversations', 'tenant_id = $1[1]', array[p_tenant_id], 10000),
    'members', (select count(*) from public.users u where u.tenant_id = p_tenant_id));
  perform private.remove_rows('usage_metrics', 'tenant_id = $1[1]', array[p_tenant_id], 10000);
  perform private.remove_rows('invitations', 'tenant_id = $1[1]', array[p_tenant_id]);
  -- a tenant being deleted takes its members with it (the last-owner rule stands aside)
  execute 'delete from public.tenants t where t.id = $1' using p_tenant_id;
  execute 'delete from auth.users a where a.id = any($1)' using accounts;
  get diagnostics n = row_count;
  counts := counts || jsonb_build_object('accounts_deleted', n);
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'on', true);
  execute 'delete from public.audit_events e where e.tenant_id = $1' using p_tenant_id;
  perform pg_catalog.set_config('supatenant.audit_rewrite', 'off', true);
  -- the erasure itself is kept, under a pseudonym of the tenant
  perform private.write_audit(gen_random_uuid(), 'tenant.erase', 'tenant', null, null, counts);
  perform public.refresh_summaries();
  return counts;
end
$$;
comment on function public.erase_tenant(uuid) is
  'Erases a tenant and everything in it in one transaction, and the auth accounts no other tenant has; its audit events go, one pseudonymous event records the erasure. Owners and the service role.';

create or replace function public.redact_message(p_tenant_id uuid, p_message_id uuid, p_reason text default null)
returns void
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  found_id uuid;
begin
  if not private.may_govern(p_tenant_id, false) then
    perform private.refuse_unknown('message', p_message_id);
  end if;
  if length(p_reason) > 500 then
    raise exception 'a reason takes at most 500 characters' using errcode = '22023';
  end if;
  -- as the tables' owner: the content of a closed message changes only here
  update public.messages m set content = '[redacted]'
   where m.tenant_id = p_tenant_id and m.id = p_message_id
  returning m.id into found_id;
  if found_id is null then
    perform private.refuse_unknown('message', p_message_id);
  end if;
  perform private.write_audit(p_tenant_id, 'message.redact', 'message', p_message_id, null,
    jsonb_build_object('content', '[redacted]', 'reason', p_reason));
end
$$;
comment on function public.redact_message(uuid, uuid, text) is
  'Replaces a message''s content with [redacted], keeping no copy of it, and records who did it and why. Admins and the service role; usage is unchanged.';

-- Exports: who may export what, and the record of each.
create or replace function private.may_export(p_kind text, p_tenant_id uuid, p_subject_id uuid)
returns boolean
language plpgsql stable security definer
set search_path = ''
as $$
declare
  scope record;
  privileged boolean := (select private.role_bypasses_rls(private.invoker_role()));
begin
  select s.member_id, s.is_admin, s.is_owner into scope
    from private.caller_scopes() s where s.tenant_id = p_tenant_id;
  if not privileged and scope.member_id is null then
    return false;
  end if;
  if p_kind = 'tenant' then
    return (p_subject_id is null or p_subject_id = p_tenant_id) and (privileged or scope.is_owner)
      and exists (select 1 from public.tenants t where t.id = p_tenant_id);
  elsif p_kind = 'member' then
    return (privileged or scope.is_admin or scope.member_id = p_subject_id)
      and exists (select 1 from public.users u where u.tenant_id = p_tenant_id and u.id = p_subject_id);
  elsif p_kind = 'conversation' then
    return exists (select 1 from public.conversations c
                   where c.tenant_id = p_tenant_id and c.id = p_subject_id
                     and (privileged or scope.is_admin or c.user_id = scope.member_id));
  end if;
  return false;
end
$$;
comment on function private.may_export(text, uuid, uuid) is 'Whether the caller may export the subject: a tenant (owners, service role), a member (themself, admins, service role), a conversation (its member, admins, service role).';
revoke all on function private.may_export(text, uuid, uuid) from public;

create or replace function public.authorize_export(p_kind text, p_tenant_id uuid, p_subject_id uuid default null)
returns void
language plpgsql stable security definer
set search_path = ''
as $$
begin
  if not private.may_export(p_kind, p_tenant_id, coalesce(p_subject_id, p_tenant_id)) then
    perform private.refuse_unknown(coalesce(p_kind, 'subject'), coalesce(p_subject_id, p_tenant_id));
  end if;
end
$$;
comment on function public.authorize_export(text, uuid, uuid) is
  'Raises P0002 unless the caller may export the subject (kind tenant, member or conversation); a missing subject looks the same.';

create or replace function public.record_export(
  p_kind text, p_tenant_id uuid, p_subject_id uuid, p_format text, p_row_counts jsonb
)
returns uuid
language plpgsql volatile security definer
set search_path = ''
as $$
begin
  perform public.authorize_export(p_kind, p_tenant_id, p_subject_id);
  if p_format not in ('jsonl', 'csv', 'markdown') or jsonb_typeof(p_row_counts) is distinct from 'object'
     or octet_length(p_row_counts::text) > 4096
     or exists (select 1 from pg_catalog.jsonb_each(p_row_counts) j where pg_catalog.jsonb_typeof(j.value) <> 'number') then
    raise exception 'format is jsonl, csv or markdown; row counts a small JSON object' using errcode = '22023';
  end if;
  return private.write_audit(p_tenant_id, 'export', p_kind, coalesce(p_subject_id, p_tenant_id), null,
    jsonb_build_object('format', p_format, 'rows', p_row_counts));
end
$$;
comment on function public.record_export(text, uuid, uuid, text, jsonb) is
  'Records a finished export (who, what, format, rows per table) in the audit log; the caller must be allowed to export the subject.';

-- Retention: tenants.settings.retention = {"archived_conversations_days": N, "messages_days": M}
-- (whole days, at least 1; absent keeps forever), validated as settings are written.
create or replace function private.retention_invalid(p_settings jsonb)
returns boolean
language sql immutable
set search_path = ''
as $$
  select p_settings ? 'retention' and not coalesce((
    select pg_catalog.jsonb_typeof(p_settings -> 'retention') = 'object'
       and not exists (
         select 1 from pg_catalog.jsonb_each(p_settings -> 'retention') kv
         where kv.key not in ('archived_conversations_days', 'messages_days')
            or pg_catalog.jsonb_typeof(kv.value) <> 'number'
            or case when kv.value::text ~ '^[0-9]{1,6}$' then kv.value::text::integer < 1 else true end)
  ), false)
$$;
comment on function private.retention_invalid(jsonb) is 'True when settings hold a retention entry that is not {archived_conversations_days?, messages_days?} of whole days from 1 to 999999.';
revoke all on function private.retention_invalid(jsonb) from public;
grant execute on function private.retention_invalid(jsonb) to authenticated, service_role;

create or replace trigger tenants_check_retention_on_insert before insert on public.tenants
  for each row when (private.retention_invalid(new.settings))
  execute function private.refuse_large_document('tenants.settings.retention takes archived_conversations_days and messages_days, whole days from 1');
create or replace trigger tenants_check_retention_on_update before update of settings on public.tenants
  for each row when (new.settings is distinct from old.settings and private.retention_invalid(new.settings))
  execute function private.refuse_large_document('tenants.settings.retention takes archived_conversations_days and messages_days, whole days from 1');

create or replace function public.apply_retention(p_batch_size integer default 1000)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  policy record;
  budget integer := p_batch_size;
  messages_gone integer;
  conversations_gone integer;
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 100000 then
    raise exception 'batch size must be between 1 and 100000' using errcode = '22023';
  end if;
  if not (select private.role_bypasses_rls(private.invoker_role())) then
    raise exception 'retention is applied by the service role' using errcode = '42501';
  end if;
  for policy in
    select t.id as tenant_id,
           (t.settings -> 'retention' ->> 'messages_days')::integer as message_days,
           (t.settings -> 'retention' ->> 'archived_conversations_days')::integer as archived_days
    from public.tenants t
    where t.settings ? 'retention'
    order by t.id
  loop
    exit when budget <= 0;
    messages_gone := 0;
    conversations_gone := 0;
    if policy.archived_days is not null then
      execute
        'with doomed as (select c.tenant_id, c.id from public.conversations c'
        '  where c.tenant_id = $1 and c.is_archived'
        '    and coalesce(c.last_message_at, c.created_at) < now() - make_interval(days => $2)'
        '  limit $3 for update skip locked)'
        ' delete from public.conversations c using doomed d where c.tenant_id = d.tenant_id and c.id = d.id'
        using policy.tenant_id, policy.archived_days, budget;
      get diagnostics conversations_gone = row_count;
      budget := budget - conversations_gone;
    end if;
    if policy.message_days is not null and budget > 0 then
      execute
        'with doomed as (select m.tenant_id, m.id from public.messages m'
        '  where m.tenant_id = $1 and m.created_at < now() - make_interval(days => $2)'
        '  limit $3 for update skip locked),'
        ' gone as (delete from public.messages m using doomed d where m.tenant_id = d.tenant_id and m.id = d.id'
        '  returning m.tenant_id, m.conversation_id),'
        ' per_thread as (select g.tenant_id, g.conversation_id, count(*) as n from gone g group by 1, 2),'
        ' counted as (update public.conversations c set message_count = greatest(c.message_count - p.n, 0)'
        '  from per_thread p where c.tenant_id = p.tenant_id and c.id = p.conversation_id returning 1)'
        ' select coalesce(sum(n), 0)::integer from per_thread'
        into messages_gone
        using policy.tenant_id, policy.message_days, budget;
      budget := budget - messages_gone;
    end if;
    if messages_gone + conversations_gone > 0 then
      perform private.write_audit(policy.tenant_id, 'retention.apply', 'tenant', policy.tenant_id, null,
        jsonb_build_object('conversations', conversations_gone, 'messages', messages_gone));
    end if;
  end loop;
  return p_batch_size - budget;
end
$$;
comment on function public.apply_retention(integer) is
  'One bounded batch of retention: deletes up to p_batch_size archived conversations and messages older than their tenant''s settings.retention allows; returns how many rows went (0 when nothing is left). Service role only.';

create or replace function public.set_retention(
  p_tenant_id uuid, p_archived_conversations_days integer default null, p_messages_days integer default null
)
returns jsonb
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  result jsonb;
begin
  if not private.may_govern(p_tenant_id, true) then
    perform private.refuse_unknown('tenant', p_tenant_id);
  end if;
  update public.tenants t
     set settings = case
       when p_archived_conversations_days is null and p_messages_days is null then t.settings - 'retention'
       else t.settings || jsonb_build_object('retention', jsonb_strip_nulls(jsonb_build_object(
              'archived_conversations_days', p_archived_conversations_days, 'messages_days', p_messages_days)))
     end
   where t.id = p_tenant_id
  returning coalesce(t.settings -> 'retention', '{}') into result;
  return result;
end
$$;
comment on function public.set_retention(uuid, integer, integer) is
  'Sets (or, with both null, clears) a tenant''s retention: archived conversations and messages older than that many days are deleted by the maintenance job. Owners and the service role.';

revoke all on function public.erase_member(uuid, uuid), public.erase_conversation(uuid, uuid),
  public.erase_tenant(uuid), public.redact_message(uuid, uuid, text),
  public.authorize_export(text, uuid, uuid), public.record_export(text, uuid, uuid, text, jsonb),
  public.apply_retention(integer), public.set_retention(uuid, integer, integer)
  from public, anon, authenticated;
grant execute on function public.erase_member(uuid, uuid), public.erase_conversation(uuid, uuid),
  public.erase_tenant(uuid), public.redact_message(uuid, uuid, text),
  public.authorize_export(text, uuid, uuid), public.record_export(text, uuid, uuid, text, jsonb),
  public.set_retention(uuid, integer, integer)
  to authenticated, service_role;
grant execute on function public.apply_retention(integer) to service_role;

-- Scheduled retention where pg_cron is enabled; `supatenant maintain` otherwise.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform cron.schedule('supatenant-retention', '*/10 * * * *', 'select public.apply_retention(5000)');
  end if;
end
$$;

-- the log's identity sequence is the log's own: no API role may move it
revoke all on sequence public.audit_events_seq_seq from anon, authenticated;
