begin;
\ir ../fixtures/world.sql
select plan(7);

:as_m1
select lives_ok($$insert into public.feedback (tenant_id, message_id, user_id, rating) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'e0000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-0000000000a1', -1)$$, 'a member rates a message they can read');
select throws_ok($$insert into public.feedback (tenant_id, message_id, user_id, rating) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'e0000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-0000000000a1', 1)$$, '23505', null, 'one rating per member per message');
select isnt_empty($$update public.feedback set comment = 'better' where message_id = 'e0000000-0000-4000-8000-0000000000a2' returning 1$$, 'a member changes their own feedback');
reset role;

:as_m2
select throws_ok($$insert into public.feedback (tenant_id, message_id, user_id, rating) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'e0000000-0000-4000-8000-0000000000a1', '10000000-0000-4000-8000-0000000000a2', 1)$$, '42501', null, 'a member cannot rate a message they cannot read');
select is_empty('delete from public.feedback returning 1', 'a member cannot delete another''s feedback');
reset role;

:as_admin
select results_eq('select count(*)::int from public.feedback', array[2], 'an admin reads all the tenant''s feedback, m1''s new rating included');
select results_eq($$select positive_count from public.message_feedback_summary('c0000000-0000-4000-8000-0000000000a1')$$, array[1::bigint], 'an admin reads the feedback summary');
reset role;

select * from finish();
rollback;
