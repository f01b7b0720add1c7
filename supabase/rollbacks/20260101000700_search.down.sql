-- Inverse of 20260101000700_search.sql.
drop index if exists public.messages_content_search_idx;
