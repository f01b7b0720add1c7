-- A search whose query holds no word to look for (empty, punctuation, only stop words such as
-- "the") found every message the caller could read: the tenant's own term alone matched. Such
-- a query now finds nothing.

create or replace function private.search_query(p_tenant_id uuid, p_query text)
returns tsquery
language sql immutable parallel safe
set search_path = ''
as $$
  select case
    when pg_catalog.numnode(pg_catalog.websearch_to_tsquery('english'::regconfig, p_query)) = 0
      then null::tsquery  -- no word to look for: matches nothing
    else pg_catalog.websearch_to_tsquery('english'::regconfig, p_query)
      && pg_catalog.quote_literal('tenant ' || p_tenant_id::text)::tsquery
  end
$$;
comment on function private.search_query(uuid, text) is 'A web-search query (English) restricted to one tenant''s documents, for messages_tenant_search_idx; null (matching nothing) when the query holds no word to look for.';
