-- Inverse of 20260101000400_usage.sql. Destroys usage data.
drop view if exists public.current_day_usage;
drop function if exists public.increment_usage_batch(jsonb);
drop function if exists public.increment_usage(uuid, uuid, bigint, bigint, numeric, bigint, date);
drop table if exists public.usage_metrics;
