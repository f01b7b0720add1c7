-- Inverse of 20260101000200_conversations_messages.sql. Destroys conversations and messages.
drop table if exists public.messages;
drop table if exists public.conversations;
drop function if exists private.attach_message();
