-- Inverse of 20261122220000_message_order.sql: order by created_at and id again.

drop trigger if exists messages_take_seq on public.messages;
drop function if exists private.number_message();
create index if not exists messages_tenant_id_conversation_id_created_at_idx
  on public.messages (tenant_id, conversation_id, created_at desc, id desc);
drop index if exists public.messages_tenant_id_conversation_id_seq_key;
alter table public.messages alter column created_at set default now();
comment on column public.messages.created_at is null;
alter table public.messages drop column if exists seq;
