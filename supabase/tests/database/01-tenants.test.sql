begin;
\ir ../fixtures/world.sql
select plan(8);

:as_m1
select results_eq('select slug::text from public.tenants', $$values ('pgtap-a')$$, 'a member sees only their own tenant');
select throws_ok($$update public.tenants set plan = 'enterprise'$$, '42501', null, 'a member cannot change the plan');
select is_empty($$update public.tenants set name = 'x' returning 1$$, 'a member cannot rename the tenant');
reset role;

:as_owner
select isnt_empty($$update public.tenants set name = 'Renamed' returning 1$$, 'the owner renames their tenant');
select is_empty($$update public.tenants set name = 'x' where slug = 'pgtap-b' returning 1$$, 'the owner cannot touch another tenant');
reset role;

:as_inactive
select is_empty('select 1 from public.tenants', 'an inactive member sees no tenant');
reset role;

:as_anon
select throws_ok('select 1 from public.tenants', '42501', null, 'anon reads nothing');
reset role;

:as_service
select results_eq($$select count(*)::int from public.tenants where slug like 'pgtap-%'$$, array[2], 'the service role sees every tenant');
reset role;

select * from finish();
rollback;
