"""The pure domain of the migration: no I/O anywhere in this package.

- ``mapping.yaml`` and ``spec``: the declarative V1 -> V2 mapping, loaded and validated;
  ``mapping_check``: the mapping against both orgs' describe metadata (preflight's logic).
- ``customer_transform``, ``field_transforms``, ``issues``: one V1 customer into V2 payloads,
  the value transforms, and the data-quality findings they raise.
- ``reference_rules``: owners and record types; ``cross_references``: lookups to another
  customer's record (``Account.ParentId``) and when they can be written.
- ``extract_plan``: the SOQL beyond the root query (e-mails, tasks, file links, by parent);
  ``files_plan``: which files travel with a customer.
- ``write_plan``: each record's fate in V2 (create, upsert, keep as V2 has it), the conflict
  guard's decisions; ``v2_state``: the queries that read V2 before a re-migration.
- The load plans: ``graph_plan`` (one Composite Graph per customer), ``collections_plan``
  (sObject Collections chunks), ``bulk_plan`` (Bulk API 2.0 jobs and their result CSVs);
  ``load_options``: which strategy and its switches; ``chunks``: ``chunked``.
- ``salesforce_ids``: what a record Id looks like, and id lists safe to put in SOQL.
"""
