"""Backends execute repository operations: psycopg (direct) and supabase-py (PostgREST)."""
