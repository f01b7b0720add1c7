"""``supatenant check``: migration mistakes caught before they reach a database."""
