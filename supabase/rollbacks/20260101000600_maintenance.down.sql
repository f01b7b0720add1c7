-- Inverse of 20260101000600_maintenance.sql.
drop function if exists public.archive_stale_conversations(interval);
