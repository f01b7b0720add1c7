-- Four policies were named with more than PostgreSQL's 63 bytes for an identifier, so
-- their names were stored cut off mid-word. Each gets a sentence that fits; what the
-- policies allow is unchanged.
--
-- Re-runnable: a name already changed is left alone. When an earlier migration run again
-- has recreated a policy under its cut-off name next to the renamed one, the cut-off
-- duplicate goes (the renamed policy is the one this migration keeps).
do $$
declare
  p record;
begin
  for p in
    select * from (values
      ('users', 'Members can edit their own profile and admins any member of the',
       'Members edit their own profile, admins any in their tenant'),
      ('conversations', 'Members can read their own conversations and admins all in thei',
       'Members read their own conversations, admins all in tenant'),
      ('messages', 'Members can read messages of their own conversations and admins',
       'Members read messages of their own conversations, admins all'),
      ('feedback', 'Members can read their own feedback and admins all in their ten',
       'Members read their own feedback, admins all in their tenant')
    ) as v(table_name, old_name, new_name)
  loop
    if not exists (
      select 1 from pg_policies
      where schemaname = 'public' and tablename = p.table_name and policyname = p.old_name
    ) then
      continue;
    elsif exists (
      select 1 from pg_policies
      where schemaname = 'public' and tablename = p.table_name and policyname = p.new_name
    ) then
      execute format('drop policy %I on public.%I', p.old_name, p.table_name);
    else
      execute format('alter policy %I on public.%I rename to %I', p.old_name, p.table_name, p.new_name);
    end if;
  end loop;
end
$$;
