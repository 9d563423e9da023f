"""Field-level verification of migrated customers: ``plan`` (pure reconciliation, MATCH /
DRIFT / MISSING / UNEXPECTED / EDITED_IN_V2), ``execution`` (re-read both orgs; also the
worker's sampled verifier), ``command`` (``migration-app verify``); ``preflight`` (the mapping
against both orgs' live describe metadata, ``migration-app preflight``).
"""
