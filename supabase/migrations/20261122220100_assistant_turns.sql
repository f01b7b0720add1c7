-- The assistant turn: streamed, closed once, metered with its own usage, within quota.
--
-- An assistant (or tool) message is opened `streaming`, has text appended, and is closed
-- `complete`, `failed` or `cancelled`. Closing an assistant message adds its usage to
-- usage_metrics in the same transaction, once. record_turn writes a user turn and the
-- reply in one call, idempotent under a key. Plans set limits that opening a turn checks
-- under a per-tenant lock. All writes here are the service role's (the app's back end).

-- Messages: lifecycle and per-message usage. Existing rows are complete; their usage
-- stays where it was recorded (usage_metrics), so they are not metered.
alter table public.messages add column if not exists status varchar(20) not null default 'complete'
  check (status in ('streaming', 'complete', 'failed', 'cancelled'));
alter table public.messages add column if not exists status_reason varchar(1000);
alter table public.messages add column if not exists prompt_tokens integer check (prompt_tokens >= 0);
alter table public.messages add column if not exists completion_tokens integer check (completion_tokens >= 0);
alter table public.messages add column if not exists cost_usd numeric(16, 6) check (cost_usd >= 0);
alter table public.messages add column if not exists reserved_tokens integer check (reserved_tokens >= 0);
alter table public.messages add column if not exists streamed_at timestamptz;
alter table public.messages add column if not exists completed_at timestamptz;
alter table public.messages add column if not exists metered_at timestamptz;
comment on column public.messages.status is 'streaming while the text is being written; then complete, failed or cancelled, after which nobody edits it (redaction aside).';
comment on column public.messages.status_reason is 'Why a message failed or was cancelled.';
comment on column public.messages.prompt_tokens is 'Prompt tokens the reply consumed, as the model provider reported them.';
comment on column public.messages.completion_tokens is 'Completion tokens of the reply, as the model provider reported them.';
comment on column public.messages.cost_usd is 'Cost of the reply in US dollars, to the millionth.';
comment on column public.messages.reserved_tokens is 'Tokens reserved against the tenant''s monthly quota while the message streams; null when nothing was reserved.';
comment on column public.messages.streamed_at is 'When text last arrived on a streaming message; a stream silent past the timeout is closed as failed.';
comment on column public.messages.completed_at is 'When the message was closed; null for messages stored before the lifecycle existed.';
comment on column public.messages.metered_at is 'When the message''s usage was added to usage_metrics (once); null when it was not metered.';
-- the maintenance job finds open streams without reading the table
create index if not exists messages_streaming_idx on public.messages (streamed_at)
  where status = 'streaming';

-- Plans and their limits; null is no limit. Operator settings, out of the Data API: set
-- them with SQL as the database owner (the dashboard's SQL editor); members read their
-- tenant's limits through tenant_quota.
create table if not exists private.plans (
  plan varchar(20) primary key,
  monthly_tokens bigint check (monthly_tokens >= 0),
  monthly_cost_usd numeric(16, 6) check (monthly_cost_usd >= 0),
  requests_per_day integer check (requests_per_day >= 0),
  members integer check (members >= 0),
  conversations integer check (conversations >= 0)
);
comment on table private.plans is 'Limits per billing plan (tenants.plan); a null limit is no limit.';
comment on column private.plans.plan is 'The plan''s name, as tenants.plan holds it.';
comment on column private.plans.monthly_tokens is 'Prompt plus completion tokens a tenant may use per UTC calendar month.';
comment on column private.plans.monthly_cost_usd is 'Cost a tenant may incur per UTC calendar month.';
comment on column private.plans.requests_per_day is 'Assistant replies a tenant may have per UTC day.';
comment on column private.plans.members is 'Active members a tenant may have.';
comment on column private.plans.conversations is 'Conversations a tenant may keep (archived ones included).';
insert into private.plans (plan) values ('free'), ('pro'), ('team'), ('enterprise') on conflict (plan) do nothing;
revoke all on private.plans from public, anon, authenticated, service_role;

-- The tenant's usage per UTC day, kept from usage_metrics by trigger, plus what open streams
-- have reserved: the live month-to-date total and the row quota checks lock.
create table if not exists private.tenant_daily_usage (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  usage_date date not null,
  request_count bigint not null default 0,
  prompt_tokens bigint not null default 0,
  completion_tokens bigint not null default 0,
  cost_usd numeric(16, 6) not null default 0,
  reserved_tokens bigint not null default 0,
  reserved_requests bigint not null default 0,
  primary key (tenant_id, usage_date)
);
comment on table private.tenant_daily_usage is 'Per tenant and UTC day: the sum of usage_metrics (kept by trigger) and the reservations of open streams.';
revoke all on private.tenant_daily_usage from public, anon, authenticated, service_role;

insert into private.tenant_daily_usage (tenant_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
select u.tenant_id, u.usage_date, sum(u.request_count), sum(u.prompt_tokens), sum(u.completion_tokens), sum(u.cost_usd)
  from public.usage_metrics u
 group by u.tenant_id, u.usage_date
on conflict (tenant_id, usage_date) do nothing;

-- Statement triggers with transition tables: each statement's changes are summed per
-- tenant and day and applied in key order, so concurrent batches cannot deadlock here.
create or replace function private.track_tenant_usage()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    insert into private.tenant_daily_usage as t
      (tenant_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
    select n.tenant_id, n.usage_date, sum(n.request_count), sum(n.prompt_tokens), sum(n.completion_tokens), sum(n.cost_usd)
      from new_rows n
     group by 1, 2
     order by 1, 2
    on conflict (tenant_id, usage_date) do update
      set request_count = t.request_count + excluded.request_count,
          prompt_tokens = t.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = t.completion_tokens + excluded.completion_tokens,
          cost_usd = t.cost_usd + excluded.cost_usd;
  elsif tg_op = 'UPDATE' then
    insert into private.tenant_daily_usage as t
      (tenant_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
    select d.tenant_id, d.usage_date, sum(d.request_count), sum(d.prompt_tokens), sum(d.completion_tokens), sum(d.cost_usd)
      from (
        select n.tenant_id, n.usage_date, n.request_count, n.prompt_tokens, n.completion_tokens, n.cost_usd from new_rows n
        union all
        select o.tenant_id, o.usage_date, -o.request_count, -o.prompt_tokens, -o.completion_tokens, -o.cost_usd from old_rows o
      ) d
     group by 1, 2
     order by 1, 2
    on conflict (tenant_id, usage_date) do update
      set request_count = t.request_count + excluded.request_count,
          prompt_tokens = t.prompt_tokens + excluded.prompt_tokens,
          completion_tokens = t.completion_tokens + excluded.completion_tokens,
          cost_usd = t.cost_usd + excluded.cost_usd;
  else
    update private.tenant_daily_usage t
       set request_count = t.request_count - d.request_count,
           prompt_tokens = t.prompt_tokens - d.prompt_tokens,
           completion_tokens = t.completion_tokens - d.completion_tokens,
           cost_usd = t.cost_usd - d.cost_usd
      from (
        select o.tenant_id, o.usage_date, sum(o.request_count) as request_count, sum(o.prompt_tokens) as prompt_tokens,
               sum(o.completion_tokens) as completion_tokens, sum(o.cost_usd) as cost_usd
          from old_rows o group by 1, 2
      ) d
     where t.tenant_id = d.tenant_id and t.usage_date = d.usage_date;
  end if;
  return null;
end
$$;
comment on function private.track_tenant_usage() is 'Trigger: applies each statement''s usage_metrics changes to private.tenant_daily_usage, summed per tenant and day.';
revoke all on function private.track_tenant_usage() from public;

create or replace trigger usage_metrics_track_tenant_on_insert after insert on public.usage_metrics
  referencing new table as new_rows
  for each statement execute function private.track_tenant_usage();
create or replace trigger usage_metrics_track_tenant_on_update after update on public.usage_metrics
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.track_tenant_usage();
create or replace trigger usage_metrics_track_tenant_on_delete after delete on public.usage_metrics
  referencing old table as old_rows
  for each statement execute function private.track_tenant_usage();

-- Idempotency keys of record_turn: a retried request returns the first one's messages.
create table if not exists private.turn_requests (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  idempotency_key varchar(200) not null,
  request_hash text not null,
  user_message_id uuid,
  assistant_message_id uuid,
  created_at timestamptz not null default now(),
  primary key (tenant_id, idempotency_key)
);
comment on table private.turn_requests is 'One row per idempotency key given to record_turn: the request''s hash and the messages it wrote.';
revoke all on private.turn_requests from public, anon, authenticated, service_role;

-- Nobody edits a closed message, and a stream is closed only through close_message (which
-- meters it). Every role but the tables' owner is held to this; the owner is what
-- security definer functions (closing, redaction) run as.
create or replace function private.guard_closed_message()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if current_user = (select pg_catalog.pg_get_userbyid(c.relowner) from pg_catalog.pg_class c
                      where c.oid = 'public.messages'::regclass) then
    return new;
  end if;
  if old.status <> 'streaming'
     and (new.content, new.prompt_tokens, new.completion_tokens, new.cost_usd, new.token_count, new.model, new.latency_ms)
         is distinct from
         (old.content, old.prompt_tokens, old.completion_tokens, old.cost_usd, old.token_count, old.model, old.latency_ms) then
    raise exception 'message % is % and can no longer change', old.id, old.status using errcode = 'STC01';
  end if;
  if (new.status, new.metered_at, new.completed_at, new.reserved_tokens)
     is distinct from (old.status, old.metered_at, old.completed_at, old.reserved_tokens) then
    raise exception 'a message is closed through close_message, which meters it' using errcode = 'STC01';
  end if;
  return new;
end
$$;
comment on function private.guard_closed_message() is 'Trigger: refuses edits of a closed message''s content and usage, and status changes outside close_message, to every role but the tables'' owner.';
revoke all on function private.guard_closed_message() from public;

create or replace trigger messages_guard_closed before update on public.messages
  for each row
  when (old.status <> 'streaming' or new.status is distinct from old.status
        or new.metered_at is distinct from old.metered_at or new.reserved_tokens is distinct from old.reserved_tokens
        or new.completed_at is distinct from old.completed_at)
  execute function private.guard_closed_message();

-- A message stored whole is complete, whoever writes it; a stream starts through open_message.
create or replace function private.stamp_new_message()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  -- only open_message reserves quota (and close_message releases it)
  if current_user <> (select pg_catalog.pg_get_userbyid(c.relowner) from pg_catalog.pg_class c
                       where c.oid = 'public.messages'::regclass) then
    new.reserved_tokens := null;
  end if;
  if new.status = 'streaming' then
    new.streamed_at := coalesce(new.streamed_at, pg_catalog.clock_timestamp());
  end if;
  if new.status <> 'streaming' and new.completed_at is null then
    new.completed_at := new.created_at;
  end if;
  return new;
end
$$;
comment on function private.stamp_new_message() is 'Trigger: a new streaming message gets streamed_at, a new closed one completed_at; reservations are open_message''s alone.';
revoke all on function private.stamp_new_message() from public;

create or replace trigger messages_stamp before insert on public.messages
  for each row execute function private.stamp_new_message();

-- Quotas. Opening a turn takes a per-tenant transaction lock when the tenant's plan has a
-- usage limit, so admissions of one tenant are decided one after another, each seeing the
-- usage and reservations of those before it.
create or replace function private.admit_turn(p_tenant_id uuid, p_usage_date date, p_reserve_tokens bigint, p_streaming boolean)
returns void
language plpgsql security definer
set search_path = ''
as $$
declare
  plan private.plans;
  used record;
begin
  select p.* into plan from public.tenants t join private.plans p on p.plan = t.plan where t.id = p_tenant_id;
  if plan.monthly_tokens is null and plan.monthly_cost_usd is null and plan.requests_per_day is null then
    return;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('supatenant quota ' || p_tenant_id::text, 0));
  select coalesce(sum(d.prompt_tokens + d.completion_tokens + d.reserved_tokens), 0) as tokens,
         coalesce(sum(d.cost_usd), 0) as cost,
         coalesce(sum(d.request_count + d.reserved_requests) filter (where d.usage_date = p_usage_date), 0) as requests
    into used
    from private.tenant_daily_usage d
   where d.tenant_id = p_tenant_id
     and d.usage_date >= date_trunc('month', p_usage_date)::date
     and d.usage_date < (date_trunc('month', p_usage_date) + interval '1 month')::date;
  if used.tokens >= plan.monthly_tokens then
    raise exception 'tenant % has used its % tokens for this month', p_tenant_id, plan.monthly_tokens
      using errcode = 'STQ01', hint = 'monthly_tokens';
  end if;
  if used.cost >= plan.monthly_cost_usd then
    raise exception 'tenant % has used its % USD for this month', p_tenant_id, plan.monthly_cost_usd
      using errcode = 'STQ01', hint = 'monthly_cost_usd';
  end if;
  if used.requests >= plan.requests_per_day then
    raise exception 'tenant % has had its % replies for today', p_tenant_id, plan.requests_per_day
      using errcode = 'STQ01', hint = 'requests_per_day';
  end if;
  if p_streaming then
    insert into private.tenant_daily_usage as d (tenant_id, usage_date, reserved_tokens, reserved_requests)
    values (p_tenant_id, p_usage_date, p_reserve_tokens, 1)
    on conflict (tenant_id, usage_date) do update
      set reserved_tokens = d.reserved_tokens + excluded.reserved_tokens,
          reserved_requests = d.reserved_requests + 1;
  end if;
end
$$;
comment on function private.admit_turn(uuid, date, bigint, boolean) is 'Refuses a turn (STQ01) when the tenant''s plan limits are reached; a stream''s reservation is added in the same locked step.';
revoke all on function private.admit_turn(uuid, date, bigint, boolean) from public;

create or replace function private.plan_limits_usage(p_tenant_id uuid)
returns boolean
language sql stable security definer
set search_path = ''
as $$
  select coalesce((
    select p.monthly_tokens is not null or p.monthly_cost_usd is not null or p.requests_per_day is not null
      from public.tenants t join private.plans p on p.plan = t.plan where t.id = p_tenant_id
  ), false)
$$;
comment on function private.plan_limits_usage(uuid) is 'Whether the tenant''s plan limits tokens, cost or requests (so turns reserve and are checked).';
revoke all on function private.plan_limits_usage(uuid) from public;

-- Members and conversations: checked as they are added, under the same per-tenant lock.
create or replace function private.enforce_plan_counts()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  limit_value integer;
  counted bigint;
begin
  -- a row for a tenant the caller is not in: row-level security refuses it after this
  -- trigger, and the answer must not tell that tenant's limits (nor take its lock)
  if not (select private.role_bypasses_rls(private.invoker_role()))
     and not exists (select 1 from private.caller_scopes() s where s.tenant_id = new.tenant_id) then
    return new;
  end if;
  if tg_table_name = 'users' then
    select p.members into limit_value from public.tenants t join private.plans p on p.plan = t.plan where t.id = new.tenant_id;
  else
    select p.conversations into limit_value from public.tenants t join private.plans p on p.plan = t.plan where t.id = new.tenant_id;
  end if;
  if limit_value is null then
    return new;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('supatenant count ' || new.tenant_id::text, 0));
  if tg_table_name = 'users' then
    select count(*) into counted from (
      select 1 from public.users u where u.tenant_id = new.tenant_id and u.is_active and u.id <> new.id limit limit_value
    ) x;
  else
    select count(*) into counted from (
      select 1 from public.conversations c where c.tenant_id = new.tenant_id limit limit_value
    ) x;
  end if;
  if counted >= limit_value then
    raise exception 'tenant %''s plan allows % %', new.tenant_id, limit_value,
      case tg_table_name when 'users' then 'active members' else 'conversations' end
      using errcode = 'STQ01', hint = case tg_table_name when 'users' then 'members' else 'conversations' end;
  end if;
  return new;
end
$$;
comment on function private.enforce_plan_counts() is 'Trigger: refuses an active member or a conversation past the tenant plan''s limit (STQ01).';
revoke all on function private.enforce_plan_counts() from public;

create or replace trigger users_enforce_plan before insert or update of is_active on public.users
  for each row when (new.is_active) execute function private.enforce_plan_counts();
create or replace trigger conversations_enforce_plan before insert on public.conversations
  for each row execute function private.enforce_plan_counts();

-- Shared checks of the turn functions.
create or replace function private.check_usage(p_prompt_tokens bigint, p_completion_tokens bigint, p_cost_usd numeric, p_latency_ms bigint)
returns void
language plpgsql immutable
set search_path = ''
as $$
begin
  if p_prompt_tokens < 0 or p_completion_tokens < 0 or p_cost_usd < 0 or p_latency_ms < 0 then
    raise exception 'tokens, cost and latency cannot be negative' using errcode = '22023';
  end if;
  if p_prompt_tokens > 2147483647 or p_completion_tokens > 2147483647 or p_latency_ms > 2147483647 then
    raise exception 'tokens and latency are at most 2147483647' using errcode = '22003';
  end if;
  if p_cost_usd <> round(p_cost_usd, 6) or p_cost_usd >= 10000000000 then
    raise exception 'a cost has at most 6 decimal places and 10 integer digits, not %', p_cost_usd using errcode = '22023';
  end if;
end
$$;
comment on function private.check_usage(bigint, bigint, numeric, bigint) is 'Refuses negative tokens, cost or latency, and a cost the message columns cannot hold exactly.';
revoke all on function private.check_usage(bigint, bigint, numeric, bigint) from public;

-- The one place a message is closed and metered: once, in the caller's transaction.
create or replace function private.close_message_row(
  p_message public.messages, p_status text, p_reason text,
  p_prompt_tokens bigint, p_completion_tokens bigint, p_cost_usd numeric, p_latency_ms bigint, p_text text
)
returns public.messages
language plpgsql security definer
set search_path = ''
as $$
declare
  closed public.messages;
  metered boolean := p_message.role = 'assistant';
  usage_day date := (p_message.created_at at time zone 'utc')::date;
begin
  update public.messages m
     set content = m.content || coalesce(p_text, ''),
         status = p_status,
         status_reason = p_reason,
         prompt_tokens = coalesce(p_prompt_tokens, m.prompt_tokens),
         completion_tokens = coalesce(p_completion_tokens, m.completion_tokens),
         token_count = coalesce(p_completion_tokens, m.token_count),
         cost_usd = coalesce(p_cost_usd, m.cost_usd),
         latency_ms = coalesce(p_latency_ms, m.latency_ms),
         completed_at = pg_catalog.clock_timestamp(),
         metered_at = case when metered then pg_catalog.clock_timestamp() end
   where m.tenant_id = p_message.tenant_id and m.id = p_message.id
  returning m.* into closed;
  -- usage_metrics before the tenant's daily row, the order every writer of usage takes them
  if metered then
    perform public.increment_usage(
      closed.tenant_id, closed.user_id, coalesce(closed.prompt_tokens, 0), coalesce(closed.completion_tokens, 0),
      coalesce(closed.cost_usd, 0), 1, usage_day
    );
  end if;
  if p_message.reserved_tokens is not null then
    update private.tenant_daily_usage d
       set reserved_tokens = d.reserved_tokens - p_message.reserved_tokens,
           reserved_requests = d.reserved_requests - 1
     where d.tenant_id = p_message.tenant_id and d.usage_date = usage_day;
  end if;
  return closed;
end
$$;
comment on function private.close_message_row(public.messages, text, text, bigint, bigint, numeric, bigint, text) is
  'Closes a locked streaming message, releases its reservation and, for an assistant message, adds its usage to usage_metrics (one request).';
revoke all on function private.close_message_row(public.messages, text, text, bigint, bigint, numeric, bigint, text) from public;

create or replace function public.open_message(
  p_tenant_id uuid,
  p_conversation_id uuid,
  p_member_id uuid default null,
  p_role text default 'assistant',
  p_model text default null,
  p_reserve_tokens bigint default 0,
  p_content text default '',
  p_tool_calls jsonb default null,
  p_metadata jsonb default '{}'
)
returns public.messages
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  opened public.messages;
  reserves boolean := (select private.plan_limits_usage(p_tenant_id));
begin
  if p_tenant_id is null or p_conversation_id is null then
    raise exception 'tenant and conversation are required' using errcode = '22004';
  end if;
  if p_role is null or p_role not in ('assistant', 'tool') then
    raise exception 'a streamed message is an assistant or tool turn, not %', p_role using errcode = '22023';
  end if;
  if p_reserve_tokens is null or p_reserve_tokens < 0 or p_reserve_tokens > 2147483647 then
    raise exception 'a reservation is between 0 and 2147483647 tokens' using errcode = '22023';
  end if;
  insert into public.messages (tenant_id, conversation_id, user_id, role, content, tool_calls, model, metadata,
                               status, reserved_tokens)
  values (p_tenant_id, p_conversation_id, p_member_id, p_role, coalesce(p_content, ''), p_tool_calls, p_model,
          coalesce(p_metadata, '{}'), 'streaming', case when reserves then p_reserve_tokens end)
  returning * into opened;
  if reserves then
    perform private.admit_turn(p_tenant_id, (opened.created_at at time zone 'utc')::date, p_reserve_tokens, true);
  end if;
  return opened;
end
$$;
comment on function public.open_message(uuid, uuid, uuid, text, text, bigint, text, jsonb, jsonb) is
  'Opens a streaming assistant or tool message (for p_member_id''s conversation when given), reserving p_reserve_tokens against the tenant''s quota; refused with STQ01 over the limits. Service role only.';

create or replace function public.append_message_text(
  p_tenant_id uuid, p_message_id uuid, p_text text, p_member_id uuid default null
)
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  length_now integer;
  current_status text;
begin
  update public.messages m
     set content = m.content || coalesce(p_text, ''), streamed_at = pg_catalog.clock_timestamp()
   where m.tenant_id = p_tenant_id and m.id = p_message_id and m.status = 'streaming'
     and (p_member_id is null or m.user_id = p_member_id)
  returning octet_length(m.content) into length_now;
  if length_now is null then
    select m.status into current_status from public.messages m
     where m.tenant_id = p_tenant_id and m.id = p_message_id and (p_member_id is null or m.user_id = p_member_id);
    if current_status is null then
      raise exception 'no message % in this tenant', p_message_id using errcode = 'P0002';
    end if;
    raise exception 'message % is % and takes no more text', p_message_id, current_status using errcode = 'STC01';
  end if;
  return length_now;
end
$$;
comment on function public.append_message_text(uuid, uuid, text, uuid) is
  'Appends text to a streaming message and returns its length in bytes; a closed message refuses (STC01). Service role only.';

create or replace function public.close_message(
  p_tenant_id uuid,
  p_message_id uuid,
  p_status text default 'complete',
  p_reason text default null,
  p_prompt_tokens bigint default null,
  p_completion_tokens bigint default null,
  p_cost_usd numeric default null,
  p_latency_ms bigint default null,
  p_member_id uuid default null,
  p_text text default null
)
returns public.messages
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  found_message public.messages;
begin
  if p_status is null or p_status not in ('complete', 'failed', 'cancelled') then
    raise exception 'a message closes as complete, failed or cancelled, not %', p_status using errcode = '22023';
  end if;
  perform private.check_usage(p_prompt_tokens, p_completion_tokens, p_cost_usd, p_latency_ms);
  select m.* into found_message from public.messages m
   where m.tenant_id = p_tenant_id and m.id = p_message_id and (p_member_id is null or m.user_id = p_member_id)
     for update;
  if found_message.id is null then
    raise exception 'no message % in this tenant', p_message_id using errcode = 'P0002';
  end if;
  if found_message.status <> 'streaming' then
    -- a retried close is answered with the message as it was closed; a different one is refused
    if found_message.status = p_status
       and (p_prompt_tokens is null or p_prompt_tokens = found_message.prompt_tokens)
       and (p_completion_tokens is null or p_completion_tokens = found_message.completion_tokens)
       and (p_cost_usd is null or p_cost_usd = found_message.cost_usd)
       and (p_latency_ms is null or p_latency_ms = found_message.latency_ms) then
      return found_message;
    end if;
    raise exception 'message % is already %', p_message_id, found_message.status using errcode = 'STC01';
  end if;
  return private.close_message_row(found_message, p_status, p_reason, p_prompt_tokens, p_completion_tokens,
                                   p_cost_usd, p_latency_ms, p_text);
end
$$;
comment on function public.close_message(uuid, uuid, text, text, bigint, bigint, numeric, bigint, uuid, text) is
  'Closes a streaming message as complete, failed or cancelled with its usage, after appending p_text; an assistant message''s usage is added to usage_metrics once. Closing again alike returns it; otherwise STC01. Service role only.';

create or replace function public.record_turn(
  p_tenant_id uuid,
  p_conversation_id uuid,
  p_user_content text,
  p_assistant_content text,
  p_member_id uuid default null,
  p_model text default null,
  p_prompt_tokens bigint default 0,
  p_completion_tokens bigint default 0,
  p_cost_usd numeric default 0,
  p_latency_ms bigint default null,
  p_idempotency_key text default null
)
returns setof public.messages
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  request_hash text;
  earlier private.turn_requests;
  asked public.messages;
  answered public.messages;
begin
  if p_tenant_id is null or p_conversation_id is null or p_user_content is null or p_assistant_content is null then
    raise exception 'tenant, conversation and both turns'' text are required' using errcode = '22004';
  end if;
  perform private.check_usage(p_prompt_tokens, p_completion_tokens, p_cost_usd, p_latency_ms);
  if p_idempotency_key is not null then
    if length(p_idempotency_key) not between 1 and 200 then
      raise exception 'an idempotency key has 1 to 200 characters' using errcode = '22023';
    end if;
    request_hash := md5(jsonb_build_array(
      p_conversation_id, p_member_id, p_user_content, p_assistant_content, p_model,
      coalesce(p_prompt_tokens, 0), coalesce(p_completion_tokens, 0), round(coalesce(p_cost_usd, 0), 6), p_latency_ms
    )::text);
    -- a concurrent request with the same key waits here for the first one to end
    insert into private.turn_requests (tenant_id, idempotency_key, request_hash)
    values (p_tenant_id, p_idempotency_key, request_hash)
    on conflict (tenant_id, idempotency_key) do nothing;
    if not found then
      select r.* into earlier from private.turn_requests r
       where r.tenant_id = p_tenant_id and r.idempotency_key = p_idempotency_key;
      if earlier.request_hash <> request_hash then
        raise exception 'idempotency key % was used for a different turn', p_idempotency_key using errcode = 'STK01';
      end if;
      return query select m.* from public.messages m
        where m.tenant_id = p_tenant_id and m.id in (earlier.user_message_id, earlier.assistant_message_id)
        order by m.seq;
      return;
    end if;
  end if;
  insert into public.messages (tenant_id, conversation_id, user_id, role, content)
  values (p_tenant_id, p_conversation_id, p_member_id, 'user', p_user_content)
  returning * into asked;
  insert into public.messages (tenant_id, conversation_id, user_id, role, content, model, status)
  values (p_tenant_id, p_conversation_id, p_member_id, 'assistant', p_assistant_content, p_model, 'streaming')
  returning * into answered;
  perform private.admit_turn(p_tenant_id, (answered.created_at at time zone 'utc')::date, 0, false);
  answered := private.close_message_row(answered, 'complete', null, coalesce(p_prompt_tokens, 0),
                                        coalesce(p_completion_tokens, 0), coalesce(p_cost_usd, 0), p_latency_ms, null);
  if p_idempotency_key is not null then
    update private.turn_requests r set user_message_id = asked.id, assistant_message_id = answered.id
     where r.tenant_id = p_tenant_id and r.idempotency_key = p_idempotency_key;
  end if;
  return next asked;
  return next answered;
end
$$;
comment on function public.record_turn(uuid, uuid, text, text, uuid, text, bigint, bigint, numeric, bigint, text) is
  'Writes a user turn and the assistant reply with its usage (added to usage_metrics) in one transaction, within quota (STQ01). With an idempotency key a retry returns the first messages and adds nothing; the key with another payload is refused (STK01). Service role only.';

-- A streaming message deleted before it closed (an erased conversation or member, retention)
-- gives its reservation back: nothing else ever would.
create or replace function private.release_deleted_reservations()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  update private.tenant_daily_usage d
     set reserved_tokens = d.reserved_tokens - r.tokens, reserved_requests = d.reserved_requests - r.requests
    from (
      select o.tenant_id, (o.created_at at time zone 'utc')::date as usage_date,
             sum(o.reserved_tokens) as tokens, count(*) as requests
        from gone o where o.status = 'streaming' and o.reserved_tokens is not null group by 1, 2
    ) r
   where d.tenant_id = r.tenant_id and d.usage_date = r.usage_date;
  return null;
end
$$;
comment on function private.release_deleted_reservations() is 'Trigger: the reservations of streaming messages deleted before they closed go back to their tenant''s day.';
revoke all on function private.release_deleted_reservations() from public;
create or replace trigger messages_release_reservations after delete on public.messages
  referencing old table as gone for each statement execute function private.release_deleted_reservations();

create or replace function public.close_stale_streams(p_idle_for interval default '10 minutes')
returns integer
language plpgsql volatile security definer
set search_path = ''
as $$
declare
  closed public.messages[];
begin
  if p_idle_for is null or p_idle_for < interval '0' then
    raise exception 'the idle time is zero or more' using errcode = '22023';
  end if;
  -- all at once, then their usage in one batch: usage rows in key order, then the tenants'
  -- daily rows in key order, as every other writer of usage takes them (no deadlock)
  with stale as (
    select m.tenant_id, m.id from public.messages m
     where m.status = 'streaming' and m.streamed_at < pg_catalog.clock_timestamp() - p_idle_for
     order by m.tenant_id, m.id
       for update skip locked
  ), failed as (
    update public.messages m
       set status = 'failed',
           status_reason = 'no text for ' || p_idle_for::text || ': closed by the maintenance job',
           completed_at = pg_catalog.clock_timestamp(),
           metered_at = case when m.role = 'assistant' then pg_catalog.clock_timestamp() end
      from stale
     where m.tenant_id = stale.tenant_id and m.id = stale.id
    returning m
  )
  select coalesce(array_agg(f.m), '{}') into closed from failed f;
  if cardinality(closed) = 0 then
    return 0;
  end if;
  perform public.increment_usage_batch(coalesce((
    select jsonb_agg(jsonb_build_object(
             'tenant_id', c.tenant_id, 'user_id', c.user_id, 'usage_date', (c.created_at at time zone 'utc')::date,
             'request_count', 1, 'prompt_tokens', coalesce(c.prompt_tokens, 0),
             'completion_tokens', coalesce(c.completion_tokens, 0), 'cost_usd', coalesce(c.cost_usd, 0)))
      from unnest(closed) c where c.role = 'assistant'
  ), '[]'::jsonb));
  update private.tenant_daily_usage d
     set reserved_tokens = d.reserved_tokens - r.tokens, reserved_requests = d.reserved_requests - r.requests
    from (
      select c.tenant_id, (c.created_at at time zone 'utc')::date as usage_date,
             sum(c.reserved_tokens) as tokens, count(*) as requests
        from unnest(closed) c where c.reserved_tokens is not null group by 1, 2
    ) r
   where d.tenant_id = r.tenant_id and d.usage_date = r.usage_date;
  return cardinality(closed);
end
$$;
comment on function public.close_stale_streams(interval) is
  'Closes as failed every streaming message that got no text for p_idle_for (releasing reservations, counting one request, no tokens); returns how many. Service role only.';

create or replace function public.tenant_quota(p_tenant_id uuid default null)
returns table (
  tenant_id uuid,
  plan varchar,
  month date,
  tokens_used bigint,
  tokens_reserved bigint,
  monthly_tokens bigint,
  cost_usd numeric,
  monthly_cost_usd numeric,
  requests_today bigint,
  requests_per_day integer
)
language plpgsql stable security definer
set search_path = ''
as $$
declare
  privileged boolean := (select private.role_bypasses_rls(private.invoker_role()));
  today date := (now() at time zone 'utc')::date;
begin
  return query
    select t.id, t.plan, date_trunc('month', today)::date,
           coalesce(sum(d.prompt_tokens + d.completion_tokens), 0)::bigint,
           coalesce(sum(d.reserved_tokens), 0)::bigint,
           p.monthly_tokens,
           coalesce(sum(d.cost_usd), 0)::numeric,
           p.monthly_cost_usd,
           coalesce(sum(d.request_count) filter (where d.usage_date = today), 0)::bigint,
           p.requests_per_day
      from public.tenants t
      left join private.plans p on p.plan = t.plan
      left join private.tenant_daily_usage d
        on d.tenant_id = t.id and d.usage_date >= date_trunc('month', today)::date and d.usage_date <= today
     where (p_tenant_id is null or t.id = p_tenant_id)
       and (privileged or t.id in (select s.tenant_id from private.caller_scopes() s))
     group by t.id, t.plan, p.monthly_tokens, p.monthly_cost_usd, p.requests_per_day
     order by t.id;
end
$$;
comment on function public.tenant_quota(uuid) is
  'Live month-to-date usage (UTC) of the caller''s tenants, every member''s included, with the plan''s limits: for a quota bar.';

revoke all on function public.open_message(uuid, uuid, uuid, text, text, bigint, text, jsonb, jsonb),
  public.append_message_text(uuid, uuid, text, uuid),
  public.close_message(uuid, uuid, text, text, bigint, bigint, numeric, bigint, uuid, text),
  public.record_turn(uuid, uuid, text, text, uuid, text, bigint, bigint, numeric, bigint, text),
  public.close_stale_streams(interval), public.tenant_quota(uuid)
  from public, anon, authenticated;
grant execute on function public.open_message(uuid, uuid, uuid, text, text, bigint, text, jsonb, jsonb),
  public.append_message_text(uuid, uuid, text, uuid),
  public.close_message(uuid, uuid, text, text, bigint, bigint, numeric, bigint, uuid, text),
  public.record_turn(uuid, uuid, text, text, uuid, text, bigint, bigint, numeric, bigint, text),
  public.close_stale_streams(interval), public.tenant_quota(uuid)
  to service_role;
grant execute on function public.tenant_quota(uuid) to authenticated;

-- Where pg_cron is enabled, stale streams are closed every minute (cron.schedule replaces a
-- job of the same name, so this stays re-runnable).
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform cron.schedule('supatenant-close-stale-streams', '* * * * *', 'select public.close_stale_streams()');
  end if;
end
$$;
