-- Inverse of 20260101000000_foundation.sql.
drop function if exists private.set_updated_at();
drop schema if exists private;
