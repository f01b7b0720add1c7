-- Foundation: the private helper schema and the shared trigger function.
-- `private` is not in the Data API's exposed schemas, so nothing here is reachable over
-- PostgREST; API roles get usage only so that policies can call its helpers.

create schema if not exists private;
comment on schema private is 'Helpers for policies and triggers; never exposed through the Data API.';
revoke all on schema private from public;
grant usage on schema private to authenticated, service_role;

create or replace function private.set_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function private.set_updated_at() is 'Trigger: stamps updated_at on every update.';
revoke all on function private.set_updated_at() from public;
