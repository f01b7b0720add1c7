"""Realistic, deterministic seed data for a supatenant database (``supatenant seed``)."""
