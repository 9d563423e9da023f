"""The Salesforce adapter.

- ``client``: simple-salesforce behind timeouts, a bounded executor, retries and API limits.
- ``login``: OAuth 2.0 JWT bearer, client credentials, or legacy SOAP ``login()``.
- ``http``: the requests.Session with default timeouts, a bounded pool and the sandbox rewrite.
- ``content``: file bodies streamed (a V1 download piece by piece, the multipart upload to V2).
- ``budget``: one concurrency budget per org shared by every worker (leases on numbered slots);
  ``org_clients``: each org's budget and clients inside it for the CLI commands.
- ``users``: who a username is in an org (the integration user's writes vs people's).
- ``errors``: the client's errors (a leaf module).
"""
