"""HTTP: ``server`` (Faust's aiohttp driver without its built-in views, security headers),
``state_views`` (the table-routed ``/migrations/{id}`` state view and summary) and ``console/``
(the operator console: views, templates, static assets, auth, sessions)."""
