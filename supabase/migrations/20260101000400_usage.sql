-- Token and cost usage: one row per tenant, member and UTC day, written only through
-- increment_usage / increment_usage_batch so concurrent writers can never lose an update.

create table if not exists public.usage_metrics (
  tenant_id uuid not null,
  user_id uuid not null,
  usage_date date not null default ((now() at time zone 'utc')::date),
  request_count bigint not null default 0 check (request_count >= 0),
  prompt_tokens bigint not null default 0 check (prompt_tokens >= 0),
  completion_tokens bigint not null default 0 check (completion_tokens >= 0),
  total_tokens bigint generated always as (prompt_tokens + completion_tokens) stored,
  cost_usd numeric(16, 6) not null default 0 check (cost_usd >= 0),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, user_id, usage_date),
  foreign key (tenant_id, user_id) references public.users (tenant_id, id) on delete cascade
);
comment on table public.usage_metrics is 'Daily usage per member; written only through increment_usage and increment_usage_batch.';
comment on column public.usage_metrics.usage_date is 'The UTC calendar day the usage belongs to.';
comment on column public.usage_metrics.total_tokens is 'prompt_tokens + completion_tokens, computed by the database.';
comment on column public.usage_metrics.cost_usd is 'Cost in US dollars, to the millionth.';

alter table public.usage_metrics enable row level security;

revoke all on public.usage_metrics from anon, authenticated, service_role;
grant select on public.usage_metrics to authenticated, service_role;

drop policy if exists "Members can read their own usage and admins all in their tenant" on public.usage_metrics;
create policy "Members can read their own usage and admins all in their tenant" on public.usage_metrics
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

create or replace function public.increment_usage(
  p_tenant_id uuid,
  p_user_id uuid,
  p_prompt_tokens bigint default 0,
  p_completion_tokens bigint default 0,
  p_cost_usd numeric default 0,
  p_request_count bigint default 1,
  p_usage_date date default null
)
returns public.usage_metrics
language plpgsql security definer
set search_path = ''
as $$
declare
  result public.usage_metrics;
begin
  if p_tenant_id is null or p_user_id is null then
    raise exception 'tenant id and user id are required' using errcode = '22004';
  end if;
  if p_prompt_tokens < 0 or p_completion_tokens < 0 or p_cost_usd < 0 or p_request_count < 0 then
    raise exception 'usage increments cannot be negative' using errcode = '22023';
  end if;
  insert into public.usage_metrics as u
    (tenant_id, user_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
  values (
    p_tenant_id, p_user_id, coalesce(p_usage_date, (now() at time zone 'utc')::date),
    coalesce(p_request_count, 1), coalesce(p_prompt_tokens, 0), coalesce(p_completion_tokens, 0),
    coalesce(p_cost_usd, 0)
  )
  on conflict (tenant_id, user_id, usage_date) do update
    set request_count = u.request_count + excluded.request_count,
        prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        cost_usd = u.cost_usd + excluded.cost_usd,
        updated_at = now()
  returning u.* into result;
  return result;
end
$$;
comment on function public.increment_usage(uuid, uuid, bigint, bigint, numeric, bigint, date) is
  'Adds one request''s usage to the member''s row for the day (UTC today by default) in one atomic upsert. Service role only.';

-- Many increments in one statement. Increments for the same key are summed first (one
-- upsert may touch a row only once) and rows are written in key order, so two batches
-- lock shared rows in the same order and cannot deadlock.
create or replace function public.increment_usage_batch(p_increments jsonb)
returns integer
language plpgsql security definer
set search_path = ''
as $$
declare
  written integer;
begin
  if p_increments is null or jsonb_typeof(p_increments) <> 'array' then
    raise exception 'increments must be a JSON array' using errcode = '22023';
  end if;
  if exists (
    select 1 from jsonb_to_recordset(p_increments) as i(
      tenant_id uuid, user_id uuid, request_count bigint, prompt_tokens bigint,
      completion_tokens bigint, cost_usd numeric)
    where i.tenant_id is null or i.user_id is null
       or i.request_count < 0 or i.prompt_tokens < 0 or i.completion_tokens < 0 or i.cost_usd < 0
  ) then
    raise exception 'each increment needs tenant_id and user_id and no negative amounts'
      using errcode = '22023';
  end if;
  insert into public.usage_metrics as u
    (tenant_id, user_id, usage_date, request_count, prompt_tokens, completion_tokens, cost_usd)
  select i.tenant_id, i.user_id, coalesce(i.usage_date, (now() at time zone 'utc')::date),
         sum(coalesce(i.request_count, 1)), sum(coalesce(i.prompt_tokens, 0)),
         sum(coalesce(i.completion_tokens, 0)), sum(coalesce(i.cost_usd, 0))
  from jsonb_to_recordset(p_increments) as i(
    tenant_id uuid, user_id uuid, usage_date date, request_count bigint, prompt_tokens bigint,
    completion_tokens bigint, cost_usd numeric)
  group by 1, 2, 3
  order by 1, 2, 3
  on conflict (tenant_id, user_id, usage_date) do update
    set request_count = u.request_count + excluded.request_count,
        prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = u.completion_tokens + excluded.completion_tokens,
        cost_usd = u.cost_usd + excluded.cost_usd,
        updated_at = now();
  get diagnostics written = row_count;
  return written;
end
$$;
comment on function public.increment_usage_batch(jsonb) is
  'Applies a JSON array of increments ({tenant_id, user_id, usage_date?, request_count?, prompt_tokens?, completion_tokens?, cost_usd?}) in one deadlock-free statement; returns the rows written. Service role only.';

revoke all on function public.increment_usage(uuid, uuid, bigint, bigint, numeric, bigint, date),
  public.increment_usage_batch(jsonb) from public, anon, authenticated;
grant execute on function public.increment_usage(uuid, uuid, bigint, bigint, numeric, bigint, date),
  public.increment_usage_batch(jsonb) to service_role;

create or replace view public.current_day_usage with (security_invoker = true) as
  select tenant_id, user_id, usage_date, request_count, prompt_tokens, completion_tokens,
         total_tokens, cost_usd, updated_at
  from public.usage_metrics
  where usage_date = (now() at time zone 'utc')::date;
comment on view public.current_day_usage is 'Today''s (UTC) usage rows, filtered by the caller''s own RLS.';

revoke all on public.current_day_usage from anon, authenticated, service_role;
grant select on public.current_day_usage to authenticated, service_role;
