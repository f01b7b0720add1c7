begin;
\ir ../fixtures/world.sql
select plan(9);

:as_m1
select results_eq('select count(*)::int from public.users', array[5], 'a member sees the members of their tenant only');
select isnt_empty($$update public.users set display_name = 'Me' where email = 'm1@pgtap.test' returning 1$$, 'a member edits their own profile');
select is_empty($$update public.users set display_name = 'x' where email = 'm2@pgtap.test' returning 1$$, 'a member cannot edit another member');
select throws_ok($$update public.users set role = 'admin' where email = 'm1@pgtap.test'$$, '42501', null, 'a member cannot promote themself');
select throws_ok($$insert into public.users (tenant_id, email) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'new@pgtap.test')$$, '42501', null, 'a member cannot add members');
reset role;

:as_admin
select lives_ok($$insert into public.users (tenant_id, email) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'new@pgtap.test')$$, 'an admin adds a member');
select isnt_empty($$update public.users set is_active = false where email = 'm2@pgtap.test' returning 1$$, 'an admin deactivates a member');
select throws_ok($$update public.users set role = 'owner' where email = 'm1@pgtap.test'$$, '42501', null, 'an admin cannot grant the owner role');
reset role;

:as_owner
select isnt_empty($$update public.users set role = 'owner' where email = 'm1@pgtap.test' returning 1$$, 'the owner grants the owner role');
reset role;

select * from finish();
rollback;
