-- Inverse of 20261122221000_governance.sql.
do $$
begin
  if exists (select 1 from pg_extension where extname = 'pg_cron') then
    execute 'select cron.unschedule(jobid) from cron.job where jobname = $1'
      using 'supatenant-retention';
  end if;
end
$$;
drop function if exists public.set_retention(uuid, integer, integer);
drop function if exists public.apply_retention(integer);
drop trigger if exists tenants_check_retention_on_update on public.tenants;
drop trigger if exists tenants_check_retention_on_insert on public.tenants;
drop function if exists private.retention_invalid(jsonb);
drop function if exists public.record_export(text, uuid, uuid, text, jsonb);
drop function if exists public.authorize_export(text, uuid, uuid);
drop function if exists private.may_export(text, uuid, uuid);
drop function if exists public.redact_message(uuid, uuid, text);
drop function if exists public.erase_tenant(uuid);
drop function if exists public.erase_conversation(uuid, uuid);
drop function if exists public.erase_member(uuid, uuid);
drop trigger if exists invitations_refuse_reserved on public.invitations;
drop function if exists private.refuse_reserved_invitations();
drop trigger if exists users_reserve_own_addresses on public.users;
drop function if exists private.reserve_own_addresses();
drop function if exists private.erased_members_row(uuid);
drop function if exists private.pseudonymise_audit(uuid, uuid[], text[], uuid);
drop function if exists private.pseudonymise_image(jsonb, text[], text[], uuid);
drop function if exists private.remove_rows(text, text, uuid[], integer);
drop function if exists private.refuse_unknown(text, uuid);
drop function if exists private.may_govern(uuid, boolean);
drop trigger if exists tenants_audit on public.tenants;
drop function if exists private.audit_tenant();
drop trigger if exists users_audit on public.users;
drop function if exists private.audit_membership();
drop function if exists private.changed_columns(jsonb, jsonb, text[]);
drop function if exists private.write_audit(uuid, text, text, uuid, jsonb, jsonb);
drop table if exists public.audit_events;
drop function if exists private.keep_audit_events();
