begin;
\ir ../fixtures/world.sql
select plan(8);

:as_m1
select results_eq('select title::text from public.conversations', $$values ('m1 thread')$$, 'a member sees their own conversations');
select lives_ok($$insert into public.conversations (tenant_id, user_id, title) values ('aaaaaaaa-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-0000000000a1', 'new')$$, 'a member starts a conversation');
select isnt_empty($$update public.conversations set is_archived = true where title = 'm1 thread' returning 1$$, 'a member archives their own conversation');
select throws_ok($$insert into public.conversations (tenant_id, user_id) values ('bbbbbbbb-0000-4000-8000-00000000000b', '10000000-0000-4000-8000-0000000000a1')$$, '42501', null, 'a member cannot forge another tenant id');
reset role;

:as_m2
select is_empty('select 1 from public.conversations', 'another member of the tenant sees none of m1''s');
select is_empty($$update public.conversations set title = 'x' returning 1$$, 'another member cannot change m1''s conversation');
reset role;

:as_admin
select results_eq('select count(*)::int from public.conversations', array[2], 'an admin reads every conversation of the tenant, including the one m1 just started');
select is_empty($$update public.conversations set title = 'x' returning 1$$, 'an admin cannot edit a member''s conversation');
reset role;

select * from finish();
rollback;
