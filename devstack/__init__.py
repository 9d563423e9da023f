"""The embedded default: every service the worker needs, started locally as child processes."""
