"""HTTP, on Faust's web server. Each views module is a ``Blueprint`` of module-level view
classes (as Faust's own ``faust/web/apps/*``); ``routes`` mounts them, in order, in one list.

- ``routes``: the route table (``BLUEPRINTS``) and ``register``.
- ``server``: Faust's aiohttp driver without its built-in views, with security headers.
- ``state_views``: ``/migrations/summary`` and the table-routed ``/migrations/{customer_id}``.
- ``table_routing``: a request answered by the worker that owns the customer's partition.
- ``state_client``: asks the owning worker's state view (`status`, `rollback`).
- ``console/``: the operator console (views, templates, static assets, auth, sessions).
"""
