-- Undo 20261122223000_search_needs_words: the query as 20261122210000 made it.

create or replace function private.search_query(p_tenant_id uuid, p_query text)
returns tsquery
language sql immutable parallel safe
set search_path = ''
as $$
  select pg_catalog.websearch_to_tsquery('english'::regconfig, p_query)
      && pg_catalog.quote_literal('tenant ' || p_tenant_id::text)::tsquery
$$;
comment on function private.search_query(uuid, text) is 'A web-search query (English) restricted to one tenant''s documents, for messages_tenant_search_idx.';
