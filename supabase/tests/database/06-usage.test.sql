begin;
\ir ../fixtures/world.sql
select plan(9);

:as_m1
select results_eq('select total_tokens from public.usage_metrics', array[120::bigint], 'a member reads their own usage');
select results_eq('select total_tokens from public.current_day_usage', array[120::bigint], 'a member reads today''s usage');
select throws_ok($$select public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-0000000000a1', 1, 1, 0)$$, '42501', null, 'authenticated cannot call increment_usage');
select throws_ok('select 1 from private.monthly_usage_summary', '42501', null, 'the materialized view is not readable directly');
reset role;

:as_m2
select is_empty('select 1 from public.usage_metrics', 'another member does not see m1''s usage');
select is_empty('select 1 from public.monthly_usage_summary()', 'nor m1''s monthly summary');
reset role;

:as_admin
select results_eq('select request_count from public.monthly_usage_summary()', array[1::bigint], 'an admin reads the tenant''s monthly summary');
reset role;

:as_service
select lives_ok($$select public.increment_usage('aaaaaaaa-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-0000000000a1', 1, 1, 0)$$, 'the service role increments usage');
select throws_ok($$insert into public.usage_metrics (tenant_id, user_id) values ('aaaaaaaa-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-0000000000a1')$$, '42501', null, 'even the service role writes usage only through increment_usage');
reset role;

select * from finish();
rollback;
