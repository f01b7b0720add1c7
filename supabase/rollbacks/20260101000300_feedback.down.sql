-- Inverse of 20260101000300_feedback.sql. Destroys feedback.
drop table if exists public.feedback;
