# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
"""The async API, written once; ``supatenant._sync`` is generated from it (``python -m tools.unasync``)."""
