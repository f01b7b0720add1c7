-- The names as PostgreSQL stored them before: cut off at 63 bytes.
alter policy "Members edit their own profile, admins any in their tenant" on public.users
  rename to "Members can edit their own profile and admins any member of the";
alter policy "Members read their own conversations, admins all in tenant" on public.conversations
  rename to "Members can read their own conversations and admins all in thei";
alter policy "Members read messages of their own conversations, admins all" on public.messages
  rename to "Members can read messages of their own conversations and admins";
alter policy "Members read their own feedback, admins all in their tenant" on public.feedback
  rename to "Members can read their own feedback and admins all in their ten";
