"""How a sandbox is started: network, storage, seeding, principals, limits, faults and inferred behaviour.

One frozen :class:`SandboxConfig` is read by :class:`~dataverse_sandbox.server.Sandbox` at start. Where the
behavioural reference marks a behaviour as inferred (``[INF]``), :class:`InferredBehaviour` holds the choice as a
switch with a documented default, so a test can flip it and ``docs/sandbox.md`` can list it.
Not for run-time changes: limits and faults are changed through ``Sandbox.limits`` / ``Sandbox.faults``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from dataverse_sandbox.faults import FaultSettings
from dataverse_sandbox.limits import LimitSettings
from dataverse_sandbox.request_body import DEFAULT_MAX_BODY_BYTES

__all__ = ["AccessLevel", "InferredBehaviour", "SandboxConfig"]

#: What a principal may do in the Web API (see :class:`~dataverse_sandbox.contracts.ClientRegistration`).
AccessLevel = Literal["full", "read", "none"]


@dataclass(frozen=True)
class InferredBehaviour:
    """Choices for behaviours the reference could not confirm (each ``[INF]`` there). Defaults in brackets.

    :param entity_definitions_key_as_object: ``EntityDefinitions(LogicalName='x')`` returns one object with a
        ``$entity`` context [True]; ``False`` wraps it in ``value: [...]`` like the Learn example.
    :param update_returns_entity_id: a 204 answer to a PATCH that updated carries ``OData-EntityId`` [True].
    :param clamp_max_page_size: ``odata.maxpagesize`` above 5000 is served as 5000 [True]; ``False``: 400.
    :param clamp_top: ``$top`` above 5000 is served as 5000 [True]; ``False``: 400.
    :param count_limit: ``@odata.count`` and ``/$count`` stop counting here [5000].
    :param unknown_alternate_key_status: status for a key predicate whose columns are no alternate key [400].
    :param change_tracking_not_enabled_status: status of ``0x80072491`` on a table without change tracking [400].
    :param accept_primary_key_on_create: a POST body may carry the primary key, which is honoured [True].
    :param metadata_content_type: ``Content-Type`` of ``$metadata`` [``application/xml``].
    :param challenge_error_parameters: the 401 ``WWW-Authenticate`` also carries RFC 6750 ``error`` and
        ``error_description`` [False: Dataverse's observed bare form].
    :param delete_removes_links: deleting a row clears lookups that point at it instead of deleting the
        referencing rows [True; Dataverse cascades by relationship, the sandbox never deletes other rows].
    :param guid_order: how primary keys and lookups sort and compare (``$orderby``, ``gt``/``lt``, paging):
        ``sqlserver``, SQL Server's ``uniqueidentifier`` order, which Dataverse's storage has [default; documented
        for SQL Server, inferred for the Web API]; ``text``, the lower-case text's order. Fixed when a database
        file is created.
    """

    entity_definitions_key_as_object: bool = True
    update_returns_entity_id: bool = True
    clamp_max_page_size: bool = True
    clamp_top: bool = True
    count_limit: int = 5000
    unknown_alternate_key_status: int = 400
    change_tracking_not_enabled_status: int = 400
    accept_primary_key_on_create: bool = True
    metadata_content_type: str = "application/xml"
    challenge_error_parameters: bool = False
    delete_removes_links: bool = True
    guid_order: Literal["sqlserver", "text"] = "sqlserver"


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a sandbox needs to start.

    :param host: interface to bind (loopback by default; the sandbox is not meant to be exposed).
    :param port: TCP port; 0 picks a free one.
    :param tls: serve https with a server certificate issued by a CA the sandbox generates in ``state_dir``.
    :param db_path: SQLite database file, or ``:memory:``.
    :param state_dir: where generated certificates, keys and secrets are written; ``None`` uses a temporary
        directory removed at stop.
    :param seed_records: accounts to seed at start (0: none). Contacts are seeded at half that number.
    :param tenant_id: the Entra tenant id; ``None`` lets the token service choose (stable per ``state_dir``).
    :param access: overrides of a principal's Web API access, by client id or object id.
    :param limits: service-protection limits at start.
    :param faults: fault injection at start.
    :param fault_seed: seed of the fault injector's random decisions.
    :param behaviour: the inferred-behaviour switches.
    :param organization_id: the Dataverse organization id (``WhoAmI``).
    :param keep_alive: HTTP/1.1 keep-alive: a client reuses its connection for many requests [True]; ``False``
        closes every connection after one response (werkzeug's own behaviour).
    :param loopback_redirect_any_port: the authorize endpoint accepts ``http://localhost/…`` and
        ``http://127.0.0.1/…`` redirect URIs registered without a port with any port, as Entra does for native
        apps; off by default (exact matching; register the listener's URI with
        :meth:`~dataverse_sandbox.server.Sandbox.register_redirect_uri` or the admin endpoint instead).
    :param max_body_bytes: the largest request body accepted; larger ones get ``413`` before they are read
        [128 MB, Dataverse's documented size limit of a single request].
    """

    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = False
    db_path: str = ":memory:"
    state_dir: Path | None = None
    seed_records: int = 0
    tenant_id: str | None = None
    access: Mapping[str, AccessLevel] = field(default_factory=dict)
    limits: LimitSettings = field(default_factory=LimitSettings)
    faults: FaultSettings = field(default_factory=FaultSettings)
    fault_seed: int = 0
    behaviour: InferredBehaviour = field(default_factory=InferredBehaviour)
    organization_id: str = "4faf1f34-f06d-e511-80d0-00155db07cb1"
    loopback_redirect_any_port: bool = False
    keep_alive: bool = True
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        if self.seed_records < 0:
            raise ValueError(f"seed_records must not be negative, got {self.seed_records}")
        for principal, level in self.access.items():
            if level not in ("full", "read", "none"):
                raise ValueError(f"access for {principal} must be full, read or none, got {level!r}")
