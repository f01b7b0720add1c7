"""One repository per aggregate. Each method validates its input with the generated models,
builds one operation (:mod:`supatenant.ops`) and lets the store's backend run it."""
