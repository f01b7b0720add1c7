-- Inverse of 20260101000500_summaries.sql.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    -- a separate statement: cron.job must not be named where pg_cron is absent
    execute 'select cron.unschedule(jobid) from cron.job where jobname = $1'
      using 'supatenant-refresh-summaries';
  end if;
end
$$;
drop function if exists public.refresh_summaries();
drop function if exists public.monthly_usage_summary(date, date);
drop function if exists public.message_feedback_summary(uuid);
drop materialized view if exists private.monthly_usage_summary;
drop materialized view if exists private.message_feedback_summary;
