-- Messages keep the order they were written in. Before this, created_at defaulted to the
-- transaction's start (now()), so turns written in one transaction shared a timestamp and
-- a random uuid decided their order. Now each message takes the next number of its
-- conversation (under the conversation's row lock), threads sort by it, and created_at is
-- the time the row was written.

alter table public.messages add column if not exists seq bigint;
comment on column public.messages.seq is 'Position in the conversation (1, 2, ...), assigned under the conversation''s row lock as the message is stored; threads and cursors sort by it.';

-- Existing messages keep the order readers saw: created_at, then id.
update public.messages m
   set seq = o.n
  from (
    select x.tenant_id, x.id,
           row_number() over (partition by x.tenant_id, x.conversation_id order by x.created_at, x.id) as n
      from public.messages x
  ) o
 where m.seq is null and m.tenant_id = o.tenant_id and m.id = o.id;

-- the trigger always assigns it; the default only keeps it optional for writers
alter table public.messages alter column seq set default 0;
alter table public.messages alter column seq set not null;
alter table public.messages alter column created_at set default clock_timestamp();
comment on column public.messages.created_at is 'When the row was written (clock_timestamp(), not the transaction''s start).';

-- serves the (tenant_id, conversation_id) foreign key, the thread read (keyset on seq, both
-- directions) and the RLS filter, all leading with tenant_id
create unique index if not exists messages_tenant_id_conversation_id_seq_key
  on public.messages (tenant_id, conversation_id, seq);
drop index if exists public.messages_tenant_id_conversation_id_created_at_idx;

-- Runs after messages_set_owner (triggers fire in name order), so the writer may add to
-- the conversation. The row lock queues concurrent writers of one conversation; each then
-- reads the highest number with a fresh snapshot, so numbers never repeat.
create or replace function private.number_message()
returns trigger
language plpgsql security definer
set search_path = ''
as $$
begin
  -- a row the insert policy will refuse takes no lock and learns nothing: the same test as
  -- the policy ("Members can add user turns to their own conversations")
  if not (select private.role_bypasses_rls(private.invoker_role()))
     and not (new.role = 'user'
              and exists (select 1 from private.caller_scopes() s
                           where s.tenant_id = new.tenant_id and s.member_id = new.user_id)) then
    return new;
  end if;
  perform 1 from public.conversations c
   where c.tenant_id = new.tenant_id and c.id = new.conversation_id
     for update;
  select coalesce(max(m.seq), 0) + 1 into new.seq
    from public.messages m
   where m.tenant_id = new.tenant_id and m.conversation_id = new.conversation_id;
  return new;
end
$$;
comment on function private.number_message() is 'Trigger: gives a new message the next seq of its conversation, under the conversation''s row lock.';
revoke all on function private.number_message() from public;

create or replace trigger messages_take_seq before insert on public.messages
  for each row execute function private.number_message();
