-- Inverse of 20261122220100_assistant_turns.sql.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    -- a separate statement: cron.job must not be named where pg_cron is absent
    execute 'select cron.unschedule(jobid) from cron.job where jobname = $1'
      using 'supatenant-close-stale-streams';
  end if;
end
$$;
drop function if exists public.tenant_quota(uuid);
drop function if exists public.close_stale_streams(interval);
drop trigger if exists messages_release_reservations on public.messages;
drop function if exists private.release_deleted_reservations();
drop function if exists public.record_turn(uuid, uuid, text, text, uuid, text, bigint, bigint, numeric, bigint, text);
drop function if exists public.close_message(uuid, uuid, text, text, bigint, bigint, numeric, bigint, uuid, text);
drop function if exists public.append_message_text(uuid, uuid, text, uuid);
drop function if exists public.open_message(uuid, uuid, uuid, text, text, bigint, text, jsonb, jsonb);
drop function if exists private.close_message_row(public.messages, text, text, bigint, bigint, numeric, bigint, text);
drop function if exists private.check_usage(bigint, bigint, numeric, bigint);
drop trigger if exists conversations_enforce_plan on public.conversations;
drop trigger if exists users_enforce_plan on public.users;
drop function if exists private.enforce_plan_counts();
drop function if exists private.plan_limits_usage(uuid);
drop function if exists private.admit_turn(uuid, date, bigint, boolean);
drop trigger if exists messages_stamp on public.messages;
drop function if exists private.stamp_new_message();
drop trigger if exists messages_guard_closed on public.messages;
drop function if exists private.guard_closed_message();
drop table if exists private.turn_requests;
drop trigger if exists usage_metrics_track_tenant_on_delete on public.usage_metrics;
drop trigger if exists usage_metrics_track_tenant_on_update on public.usage_metrics;
drop trigger if exists usage_metrics_track_tenant_on_insert on public.usage_metrics;
drop function if exists private.track_tenant_usage();
drop table if exists private.tenant_daily_usage;
drop table if exists private.plans;
drop index if exists public.messages_streaming_idx;
alter table public.messages drop column if exists metered_at;
alter table public.messages drop column if exists completed_at;
alter table public.messages drop column if exists streamed_at;
alter table public.messages drop column if exists reserved_tokens;
alter table public.messages drop column if exists cost_usd;
alter table public.messages drop column if exists completion_tokens;
alter table public.messages drop column if exists prompt_tokens;
alter table public.messages drop column if exists status_reason;
alter table public.messages drop column if exists status;
