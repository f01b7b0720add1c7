begin;
\ir ../fixtures/world.sql
select plan(24);

-- two accounts with no membership: one invited, one not
insert into auth.users (id, email) values
  ('00000000-0000-4000-8000-0000000000c1', 'invitee@pgtap.test'),
  ('00000000-0000-4000-8000-0000000000c2', 'stranger@pgtap.test');
\set as_invitee 'set local role authenticated; set local request.jwt.claims to ''{"role":"authenticated","sub":"00000000-0000-4000-8000-0000000000c1"}'';'
\set as_stranger 'set local role authenticated; set local request.jwt.claims to ''{"role":"authenticated","sub":"00000000-0000-4000-8000-0000000000c2"}'';'
-- m1's token with a claim that says service_role: the database role is what counts
\set as_forged_m1 'set local role authenticated; set local request.jwt.claims to ''{"role":"service_role","sub":"00000000-0000-4000-8000-0000000000a1"}'';'

-- membership identity: ids are generated, accounts join by invitation only
:as_admin
select throws_ok($$insert into public.users (id, tenant_id, email) values ('10000000-0000-4000-8000-0000000000b1', 'aaaaaaaa-0000-4000-8000-00000000000a', 'x1@pgtap.test')$$, '42501', null, 'an admin cannot choose a member id');
select throws_ok($$insert into public.users (tenant_id, email, auth_id) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'x2@pgtap.test', '00000000-0000-4000-8000-0000000000c2')$$, '42501', null, 'an admin cannot link an auth account');
select lives_ok($$insert into public.users (tenant_id, email) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'x3@pgtap.test')$$, 'an admin adds a member without id or account');
select throws_ok($$select public.invite_member('aaaaaaaa-0000-4000-8000-00000000000a', 'boss@pgtap.test', 'owner')$$, '42501', null, 'an admin cannot invite an owner');
select token as invite_token from public.invite_member('aaaaaaaa-0000-4000-8000-00000000000a', 'invitee@pgtap.test') \gset
reset role;

:as_m1
select throws_ok($$select public.invite_member('aaaaaaaa-0000-4000-8000-00000000000a', 'friend@pgtap.test')$$, '42501', null, 'a member cannot invite');
reset role;

:as_anon
select throws_ok(format('select public.accept_invitation(%L)', :'invite_token'), '42501', null, 'anon cannot accept an invitation');
reset role;

:as_stranger
select throws_ok(format('select public.accept_invitation(%L)', :'invite_token'), '42501', null, 'an invitation is refused to another address');
select throws_ok('select token_hash from private.invitation_tokens', '42501', null, 'token hashes are out of reach');
reset role;

:as_invitee
select results_eq(format('select role::text from public.accept_invitation(%L)', :'invite_token'), array['member'], 'the invited account accepts its invitation');
select results_eq('select tenant_slug::text from public.my_memberships()', array['pgtap-a'], 'and lists the membership');
select throws_ok(format('select public.accept_invitation(%L)', :'invite_token'), 'P0002', null, 'an invitation is accepted once');
reset role;

-- privilege comes from the database role, never from a JWT claim
:as_forged_m1
select is_empty($$select 1 from public.monthly_usage_summary() where user_id <> '10000000-0000-4000-8000-0000000000a1'$$, 'a forged service_role claim reads no one else''s usage');
reset role;

:as_service
select isnt_empty($$select 1 from public.monthly_usage_summary() where user_id = '10000000-0000-4000-8000-0000000000b1'$$, 'the service role reads everyone''s');
reset role;

-- messages: members add plain user turns to their own conversations only
:as_m1
select throws_ok($$insert into public.messages (tenant_id, conversation_id, role, content) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-0000000000a1', 'assistant', 'x')$$, '42501', null, 'a member cannot add an assistant turn');
select throws_ok($$insert into public.messages (tenant_id, conversation_id, role, content, model) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-0000000000a1', 'user', 'x', 'gpt')$$, '42501', null, 'nor set the model');
select throws_ok($$insert into public.messages (tenant_id, conversation_id, role, content) values ('bbbbbbbb-0000-4000-8000-00000000000b', 'c0000000-0000-4000-8000-0000000000b1', 'user', 'x')$$, '42501', null, 'another tenant''s conversation is refused');
select throws_ok($$insert into public.messages (tenant_id, conversation_id, role, content) values ('bbbbbbbb-0000-4000-8000-00000000000b', 'c0000000-0000-4000-8000-0000000000ff', 'user', 'x')$$, '42501', null, 'exactly like a missing one');
select throws_ok($$insert into public.messages (tenant_id, conversation_id, role, content, metadata) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-0000000000a1', 'user', 'x', jsonb_build_object('blob', repeat('x', 20971520)))$$, '23514', null, 'a 20 MiB metadata document is refused');
select results_eq('select count(*)::int from public.search_messages(''hello'')', array[1], 'a member finds their own messages');
reset role;

:as_m2
select is_empty($$select 1 from public.search_messages('hello')$$, 'and a colleague does not');
reset role;

:as_service
select lives_ok($$insert into public.messages (tenant_id, conversation_id, role, content, model, token_count) values ('aaaaaaaa-0000-4000-8000-00000000000a', 'c0000000-0000-4000-8000-0000000000a1', 'assistant', 'answer', 'gpt', 7)$$, 'the service role adds an assistant turn');
reset role;

-- a tenant keeps an owner; ownership moves in one call
:as_owner
select throws_ok($$update public.users set role = 'admin' where email = 'owner@pgtap.test'$$, '23514', null, 'the last owner cannot step down');
select results_eq($$select role::text from public.transfer_ownership('aaaaaaaa-0000-4000-8000-00000000000a', '10000000-0000-4000-8000-0000000000a1')$$, array['owner'], 'the owner hands ownership to m1');
reset role;

select results_eq($$select role::text from public.users where email = 'owner@pgtap.test'$$, array['admin'], 'and is an admin now');

select * from finish();
rollback;
