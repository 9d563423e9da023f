"""Field-level verification of migrated customers: ``plan`` (pure reconciliation, MATCH /
DRIFT / MISSING / UNEXPECTED), ``execution`` (re-read both orgs; also the worker's sampled
verifier), ``command`` (``migration-app verify``)."""
