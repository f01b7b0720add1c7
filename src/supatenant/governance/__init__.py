"""Data lifecycle: what an export reads (``plan``), the maintenance jobs (``maintain``) and the
``export`` and ``maintain`` commands (``commands``)."""
