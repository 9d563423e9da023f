"""The audit database (PostgreSQL, aiopg): ``store`` (pool, schema changes, the audit
repository), ``console_queries`` (the console's SQL), ``errors``, and ``sql/`` (the versioned
schema-change files). All SQL of the product lives in this package."""
