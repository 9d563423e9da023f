"""Settings -> each client's config object, written once.

The worker's runtime, the CLI commands (`enqueue`, `status`, `preflight`) and the dev tools all
build their clients from these functions, so a timeout or pool bound set here holds everywhere
(they had drifted when each caller wrote its own).
"""

from __future__ import annotations

from typing import Any, Literal

from migration_app.audit.settings import AuditSettings
from migration_app.migration.load_options import LoadOptions
from migration_app.registry.client import RegistrySettings
from migration_app.salesforce.client import SalesforceSettings
from migration_app.salesforce.http import HttpSettings
from migration_app.settings import Settings

Org = Literal["sf1", "sf2"]
ORGS: tuple[Org, Org] = ("sf1", "sf2")


def salesforce_config(settings: Settings, org: Org) -> SalesforceSettings:
    """One org's client config (V1 = ``sf1``, V2 = ``sf2``)."""
    login = settings.org(org)
    return SalesforceSettings(
        name=org,
        url=login.url,
        username=login.username,
        password=login.password,
        security_token=login.security_token,
        auth=login.flow,
        client_id=login.client_id,
        client_secret=login.client_secret,
        private_key_file=login.private_key_file,
        api_version=settings.sf_api_version,
        http=HttpSettings(
            connect_timeout=settings.sf_connect_timeout,
            read_timeout=settings.sf_read_timeout,
            pool_maxsize=settings.sf_max_workers,
        ),
        max_workers=settings.sf_max_workers,
        max_retries=settings.sf_max_retries,
    )


def load_options(settings: Settings) -> LoadOptions:
    """How the pipeline writes to V2."""
    return LoadOptions(
        strategy=settings.load_strategy,
        require_atomic=settings.require_atomic,
        allow_duplicate_save=settings.allow_duplicate_save,
        api_version=settings.sf_api_version,
        bulk_threshold=settings.bulk_threshold,
        bulk_deadline_s=settings.bulk_deadline,
    )


def registry_config(settings: Settings) -> RegistrySettings:
    return RegistrySettings(
        url=settings.registry_url,
        username=settings.registry_username or None,
        password=settings.registry_password.reveal() or None,
        total_timeout=settings.registry_timeout,
        connect_timeout=min(2.0, settings.registry_timeout),
    )


def audit_config(settings: Settings, *, pool_max: int | None = None) -> AuditSettings:
    """``pool_max`` narrows the pool for one-shot commands (one connection is plenty)."""
    size = settings.database_pool_size if pool_max is None else pool_max
    return AuditSettings(
        dsn=settings.database_url.reveal(),
        pool_min=min(1, size),
        pool_max=size,
        timeout=settings.database_timeout,
    )


def bootstrap_servers(settings: Settings) -> list[str]:
    """``host:port`` list for plain aiokafka clients (Faust takes the ``kafka://`` URLs)."""
    return [server.removeprefix("kafka://") for server in settings.faust_broker()]


def producer_config(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of a standalone ``AIOKafkaProducer`` (the `enqueue` command)."""
    return {
        "bootstrap_servers": bootstrap_servers(settings),
        "request_timeout_ms": int(settings.broker_request_timeout * 1000),
        "linger_ms": 5,
        "max_batch_size": settings.producer_max_batch_size,
    }
