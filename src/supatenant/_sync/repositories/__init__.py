# DO NOT EDIT. Generated from supatenant/_async by `python -m supatenant.codegen.unasync`.
"""One repository per aggregate. Each method validates its input with the generated models,
builds one operation (:mod:`supatenant.ops`) and lets the store's backend run it."""
