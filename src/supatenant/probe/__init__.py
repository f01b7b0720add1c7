"""Probes of migration files on a scratch database, for ``supatenant check``."""
