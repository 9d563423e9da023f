"""The Salesforce adapter: ``client`` (simple-salesforce behind timeouts, a bounded executor,
retries), ``login`` (OAuth JWT bearer, client credentials, legacy SOAP), ``http`` (the
requests.Session with default timeouts and the sandbox URL rewrite), ``errors``."""
