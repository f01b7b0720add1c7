-- Maintenance jobs run by the service role.

create or replace function public.archive_stale_conversations(older_than interval)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  archived integer;
begin
  if older_than is null or older_than <= interval '0' then
    raise exception 'older_than must be a positive interval' using errcode = '22023';
  end if;
  update public.conversations c
     set is_archived = true
   where not c.is_archived
     and coalesce(c.last_message_at, c.created_at) < now() - older_than;
  get diagnostics archived = row_count;
  return archived;
end
$$;
comment on function public.archive_stale_conversations(interval) is
  'Archives every conversation with no message for longer than older_than; returns how many. Service role only.';

revoke all on function public.archive_stale_conversations(interval) from public, anon, authenticated;
grant execute on function public.archive_stale_conversations(interval) to service_role;
