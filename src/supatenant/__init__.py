"""supatenant: a multi-tenant data layer for AI-assistant products on Supabase."""

from supatenant.auth import Identity
from supatenant.errors import SupatenantError

__all__ = ["Identity", "SupatenantError"]
__version__ = "0.1.0"
