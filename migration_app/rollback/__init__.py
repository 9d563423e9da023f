"""Undo a customer's migration: ``plan`` (pure: what to delete, children first), ``execution``
(deletes by the ledger, run by the worker for ROLLBACK events), ``command``
(``migration-app rollback``)."""
