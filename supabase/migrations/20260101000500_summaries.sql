-- Materialized summaries of feedback and monthly usage. They live in `private`, out of
-- the Data API's reach (a materialized view has no RLS), and are served through
-- functions that filter by the caller's tenants exactly as the table policies do.

create materialized view if not exists private.message_feedback_summary as
  select f.tenant_id,
         f.message_id,
         m.conversation_id,
         m.user_id as conversation_user_id,
         count(*) filter (where f.rating = 1)::bigint as positive_count,
         count(*) filter (where f.rating = -1)::bigint as negative_count,
         count(*)::bigint as total_count,
         sum(f.rating)::bigint as score,
         max(f.updated_at) as last_feedback_at
  from public.feedback f
  join public.messages m on m.tenant_id = f.tenant_id and m.id = f.message_id
  group by f.tenant_id, f.message_id, m.conversation_id, m.user_id
with data;
comment on materialized view private.message_feedback_summary is 'Ratings per message; refreshed by public.refresh_summaries().';
-- the unique index refresh ... concurrently requires
create unique index if not exists message_feedback_summary_tenant_id_message_id_key
  on private.message_feedback_summary (tenant_id, message_id);
create index if not exists message_feedback_summary_tenant_id_conversation_id_idx
  on private.message_feedback_summary (tenant_id, conversation_id);

create materialized view if not exists private.monthly_usage_summary as
  select tenant_id,
         user_id,
         date_trunc('month', usage_date)::date as month,
         sum(request_count)::bigint as request_count,
         sum(prompt_tokens)::bigint as prompt_tokens,
         sum(completion_tokens)::bigint as completion_tokens,
         sum(total_tokens)::bigint as total_tokens,
         sum(cost_usd) as cost_usd,
         count(*)::integer as active_days
  from public.usage_metrics
  group by tenant_id, user_id, date_trunc('month', usage_date)
with data;
comment on materialized view private.monthly_usage_summary is 'Usage per member per calendar month; refreshed by public.refresh_summaries().';
create unique index if not exists monthly_usage_summary_tenant_id_user_id_month_key
  on private.monthly_usage_summary (tenant_id, user_id, month);

revoke all on private.message_feedback_summary, private.monthly_usage_summary
  from public, anon, authenticated, service_role;

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

create or replace function public.refresh_summaries()
returns void
language plpgsql security definer
set search_path = ''
as $$
begin
  -- concurrently: readers keep reading the previous contents while this runs
  refresh materialized view concurrently private.message_feedback_summary;
  refresh materialized view concurrently private.monthly_usage_summary;
end
$$;
comment on function public.refresh_summaries() is 'Recomputes both summaries without blocking readers. Service role only.';

revoke all on function public.message_feedback_summary(uuid), public.monthly_usage_summary(date, date),
  public.refresh_summaries() from public, anon, authenticated;
grant execute on function public.message_feedback_summary(uuid), public.monthly_usage_summary(date, date)
  to authenticated, service_role;
grant execute on function public.refresh_summaries() to service_role;

-- Scheduled refresh where pg_cron is enabled (Database > Extensions on a hosted project);
-- cron.schedule replaces a job of the same name, so this stays re-runnable.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    perform cron.schedule('supatenant-refresh-summaries', '*/15 * * * *', 'select public.refresh_summaries()');
  end if;
end
$$;
