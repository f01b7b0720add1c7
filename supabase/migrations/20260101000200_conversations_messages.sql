-- Conversations and their messages. Messages are append-only; a new message bumps its
-- conversation's counters in the same statement, under the conversation's row lock.

create table if not exists public.conversations (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null,
  user_id uuid not null,
  title varchar(500),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  is_archived boolean not null default false,
  message_count integer not null default 0 check (message_count >= 0),
  last_message_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, user_id) references public.users (tenant_id, id) on delete cascade
);
comment on table public.conversations is 'A chat thread between one member and the assistant.';
comment on column public.conversations.user_id is 'The member who owns the thread.';
comment on column public.conversations.is_archived is 'Soft delete: archived threads are kept and can be restored.';
comment on column public.conversations.message_count is 'Maintained by trigger on messages; not writable by members.';
comment on column public.conversations.last_message_at is 'created_at of the newest message; maintained by trigger.';
-- serves the (tenant_id, user_id) foreign key and "my conversations, newest first"
create index if not exists conversations_tenant_id_user_id_updated_at_idx
  on public.conversations (tenant_id, user_id, updated_at desc);
-- admins list the whole tenant, newest first
create index if not exists conversations_tenant_id_updated_at_idx
  on public.conversations (tenant_id, updated_at desc);

create or replace trigger conversations_set_updated_at before update on public.conversations
  for each row execute function private.set_updated_at();

create table if not exists public.messages (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null,
  conversation_id uuid not null,
  user_id uuid not null,
  role varchar(20) not null check (role in ('user', 'assistant', 'system', 'tool')),
  content text not null check (octet_length(content) <= 1048576),
  tool_calls jsonb check (tool_calls is null or jsonb_typeof(tool_calls) = 'array'),
  model varchar(100),
  token_count integer check (token_count >= 0),
  latency_ms integer check (latency_ms >= 0),
  metadata jsonb not null default '{}'::jsonb check (jsonb_typeof(metadata) = 'object'),
  created_at timestamptz not null default now(),
  primary key (tenant_id, id),
  foreign key (tenant_id, conversation_id) references public.conversations (tenant_id, id) on delete cascade,
  foreign key (tenant_id, user_id) references public.users (tenant_id, id) on delete cascade
);
comment on table public.messages is 'One turn of a conversation. Append-only: members can never update or delete.';
comment on column public.messages.user_id is 'The member whose conversation this is, copied from the conversation by trigger whatever the writer sends.';
comment on column public.messages.role is 'Who spoke: user, assistant, system or tool.';
comment on column public.messages.tool_calls is 'Tool invocations requested by an assistant turn, as a JSON array.';
comment on column public.messages.token_count is 'Tokens this message counted for, as reported by the model provider.';
comment on column public.messages.latency_ms is 'Time the model took to produce this message, in milliseconds.';
-- one index serves the foreign key, the thread read (latest first, keyset on created_at, id)
-- and the RLS filter, which all lead with tenant_id
create index if not exists messages_tenant_id_conversation_id_created_at_idx
  on public.messages (tenant_id, conversation_id, created_at desc, id desc);
create index if not exists messages_tenant_id_user_id_idx
  on public.messages (tenant_id, user_id);

-- Before a message is stored: take its owner from the conversation and bump the
-- conversation's counters. security definer so the lookup sees the conversation whoever
-- writes; the insert policy then decides whether the writer may add to it.
create or replace function private.attach_message()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
declare
  owner_id uuid;
begin
  update public.conversations c
     set message_count = c.message_count + 1,
         last_message_at = greatest(c.last_message_at, new.created_at)
   where c.tenant_id = new.tenant_id and c.id = new.conversation_id
  returning c.user_id into owner_id;
  if owner_id is null then
    raise exception 'conversation % does not exist in this tenant', new.conversation_id
      using errcode = '23503';
  end if;
  new.user_id := owner_id;
  return new;
end
$$;
comment on function private.attach_message() is 'Trigger: sets messages.user_id from the conversation and bumps its message_count, last_message_at and updated_at.';
revoke all on function private.attach_message() from public;

create or replace trigger messages_attach before insert on public.messages
  for each row execute function private.attach_message();

alter table public.conversations enable row level security;
alter table public.messages enable row level security;

revoke all on public.conversations, public.messages from anon, authenticated, service_role;
grant select, insert, update, delete on public.conversations, public.messages to service_role;
grant select on public.conversations, public.messages to authenticated;
grant insert (id, tenant_id, user_id, title, metadata, is_archived) on public.conversations to authenticated;
grant update (title, metadata, is_archived) on public.conversations to authenticated;
grant insert (id, tenant_id, conversation_id, role, content, tool_calls, model, token_count, latency_ms, metadata)
  on public.messages to authenticated;

drop policy if exists "Members can read their own conversations and admins all in their tenant" on public.conversations;
create policy "Members can read their own conversations and admins all in their tenant" on public.conversations
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

drop policy if exists "Members can start conversations of their own" on public.conversations;
create policy "Members can start conversations of their own" on public.conversations
  for insert to authenticated
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can update and archive their own conversations" on public.conversations;
create policy "Members can update and archive their own conversations" on public.conversations
  for update to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]))
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can read messages of their own conversations and admins all in their tenant" on public.messages;
create policy "Members can read messages of their own conversations and admins all in their tenant" on public.messages
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

drop policy if exists "Members can add messages to their own conversations" on public.messages;
create policy "Members can add messages to their own conversations" on public.messages
  for insert to authenticated
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));
