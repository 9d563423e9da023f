"""What other services see: the Avro schemas (``schemas/``), the Faust records mirroring them
(``events``) and the per-customer statuses (``customer_status``). Imports nothing else of the
product: it is the lowest layer."""
