-- Full-text search over message content.
--
-- The expression is exactly what PostgREST builds for `content=wfts(english).<query>` and what
-- the Python repositories send, so searches within a tenant use this index.

create index if not exists messages_content_search_idx
  on public.messages using gin (to_tsvector('english'::regconfig, content));
comment on index public.messages_content_search_idx is
  'English full-text index over message content, for wfts(english) searches.';
