"""The async API, written once; ``supatenant._sync`` is generated from it (``python -m tools.unasync``)."""
