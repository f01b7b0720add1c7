-- Feedback: a member's thumbs up or down on a message they can read.

create table if not exists public.feedback (
  id uuid not null default gen_random_uuid(),
  tenant_id uuid not null,
  message_id uuid not null,
  user_id uuid not null,
  rating smallint not null check (rating in (-1, 1)),
  comment varchar(2000),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (tenant_id, id),
  constraint feedback_tenant_id_message_id_user_id_key unique (tenant_id, message_id, user_id),
  foreign key (tenant_id, message_id) references public.messages (tenant_id, id) on delete cascade,
  foreign key (tenant_id, user_id) references public.users (tenant_id, id) on delete cascade
);
comment on table public.feedback is 'A member''s rating of one message; at most one per member per message.';
comment on column public.feedback.user_id is 'The member who gave the rating.';
comment on column public.feedback.rating is '+1 (helpful) or -1 (not helpful).';
create index if not exists feedback_tenant_id_user_id_idx on public.feedback (tenant_id, user_id);

create or replace trigger feedback_set_updated_at before update on public.feedback
  for each row execute function private.set_updated_at();

alter table public.feedback enable row level security;

revoke all on public.feedback from anon, authenticated, service_role;
grant select, insert, update, delete on public.feedback to service_role;
grant select, delete on public.feedback to authenticated;
grant insert (id, tenant_id, message_id, user_id, rating, comment) on public.feedback to authenticated;
grant update (rating, comment) on public.feedback to authenticated;

drop policy if exists "Members can read their own feedback and admins all in their tenant" on public.feedback;
create policy "Members can read their own feedback and admins all in their tenant" on public.feedback
  for select to authenticated
  using (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and (user_id = any((select private.member_ids())::uuid[]) or tenant_id = any((select private.admin_tenant_ids())::uuid[]))
  );

-- the message must be one the member can read: the subquery is itself filtered by the
-- messages select policy
drop policy if exists "Members can rate messages they can read" on public.feedback;
create policy "Members can rate messages they can read" on public.feedback
  for insert to authenticated
  with check (
    tenant_id = any((select private.member_tenant_ids())::uuid[])
    and user_id = any((select private.member_ids())::uuid[])
    and exists (
      select 1 from public.messages m
      where m.tenant_id = feedback.tenant_id and m.id = feedback.message_id
    )
  );

drop policy if exists "Members can change their own feedback" on public.feedback;
create policy "Members can change their own feedback" on public.feedback
  for update to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]))
  with check (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));

drop policy if exists "Members can remove their own feedback" on public.feedback;
create policy "Members can remove their own feedback" on public.feedback
  for delete to authenticated
  using (tenant_id = any((select private.member_tenant_ids())::uuid[]) and user_id = any((select private.member_ids())::uuid[]));
