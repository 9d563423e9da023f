"""migration_app: migrates CRM customers from a legacy Salesforce org (V1) into a new one (V2).

Top level: ``app`` (``build(settings)``: the Faust app, its topics, table, runtime and views),
``main`` (the module-level app for ``faust -A migration_app.main``), ``__main__``
(``python -m migration_app``), ``settings`` (typed ``MIGRATION_*`` settings), ``client_config``
(settings -> each client's config), ``tokens`` (token rules checked at start), ``backoff``
(retry delays).

Packages by role, lowest layer first (``tests/unit/foundation/test_architecture.py`` holds the
layers): ``contracts/``, ``compat/``, ``migration/`` (pure domain), ``salesforce/``,
``registry/``, ``audit/`` (the clients), ``verify/``, ``rollback/``, ``resync/``, ``worker/``
(the hot path), ``ops/``, ``web/``, ``cli/``. Each package's docstring is its map.
"""
