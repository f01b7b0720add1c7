begin;
\ir ../fixtures/world.sql
select plan(8);

:as_m1
select results_eq('select count(*)::int from public.messages', array[2], 'a member reads the messages of their conversations');
select lives_ok($$insert into public.messages (tenant_id, conversation_id, role, content) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-0000000000a1', 'user', 'more')$$, 'a member adds a message to their conversation');
select throws_ok($$update public.messages set content = 'edited'$$, '42501', null, 'messages are append-only');
select throws_ok($$delete from public.messages$$, '42501', null, 'a member cannot delete messages');
reset role;

select results_eq($$select message_count from public.conversations where title = 'm1 thread'$$, array[3], 'the conversation counts its messages');

:as_m2
select throws_ok($$insert into public.messages (tenant_id, conversation_id, role, content) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-0000000000a1', 'user', 'x')$$, '42501', null, 'another member cannot add to m1''s conversation');
reset role;

:as_outsider
select is_empty($$select 1 from public.messages where tenant_id = 'aaaaaaaa-0000-4000-8000-00000000000a'$$, 'a member of another tenant reads nothing of tenant A');
reset role;

:as_admin
select results_eq('select count(*)::int from public.messages', array[3], 'an admin reads every message of the tenant');
reset role;

select * from finish();
rollback;
