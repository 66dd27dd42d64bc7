"""What every Web API handler receives: the service's state and the current request, with response helpers.

:class:`Service` is long-lived (storage, metadata, clock, behaviour switches); :class:`Call` lives for one request
(its principal, preferences, service root URL and parameter aliases). Not for routing or for any operation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from werkzeug.wrappers import Request, Response

from dataverse_sandbox.config import InferredBehaviour
from dataverse_sandbox.contracts import Clock

from .errors import DataverseError, privilege_denied
from .header_log import HeaderLog
from .metadata import EntityMeta
from .preferences import Preferences
from .query_compiler import compile_expansion
from .rendering import Renderer
from .storage import Storage

__all__ = ["JSON_CONTENT_TYPE", "Call", "Principal", "Service"]

JSON_CONTENT_TYPE = "application/json; odata.metadata=minimal"
_USER_NAMESPACE = uuid.UUID("0d7c4f3e-9a51-4b8e-8c6a-2f1e0b9d7a35")


@dataclass(frozen=True)
class Principal:
    """The caller, from a verified bearer token.

    :param object_id: the token's ``oid``.
    :param client_id: the application that obtained the token.
    :param access: what it may do.
    :param user_name: the signed-in user for delegated tokens.
    """

    object_id: str
    client_id: str
    access: Literal["full", "read", "none"]
    user_name: str | None = None

    @property
    def user_id(self) -> str:
        """:returns: the principal's ``systemuserid``: stable, derived from the object id."""
        return str(uuid.uuid5(_USER_NAMESPACE, f"systemuser:{self.object_id}"))


@dataclass
class Service:
    """The Web API's long-lived state.

    :param storage: the tables.
    :param catalog: table metadata by logical name.
    :param clock: the sandbox's clock.
    :param behaviour: the inferred-behaviour switches.
    :param organization_id: returned by ``WhoAmI``.
    """

    storage: Storage
    catalog: Mapping[str, EntityMeta]
    clock: Clock
    behaviour: InferredBehaviour
    organization_id: str
    _by_set: dict[str, EntityMeta] = field(default_factory=dict)
    #: Many-to-many relationships created through ``RelationshipDefinitions`` (their metadata JSON).
    many_to_many: list[dict[str, Any]] = field(default_factory=list)
    #: File and image content and upload sessions (a :class:`~.files.FileStore`).
    files: Any = field(default=None, init=False)
    #: Asynchronous system jobs (``BulkDelete``), a :class:`~.bulk_delete.JobRunner`.
    jobs: Any = field(default=None, init=False)
    #: Every request's headers (``$batch`` parts included), for tests: a :class:`~.header_log.HeaderLog`.
    headers_seen: HeaderLog = field(default_factory=HeaderLog, init=False)

    def __post_init__(self) -> None:
        self._by_set.update({entity.entity_set_name: entity for entity in self.catalog.values()})
        # Imported here: both modules serve requests and so depend on this one.
        from .bulk_delete import JobRunner
        from .files import FileStore

        self.files = FileStore(self)
        self.jobs = JobRunner(self)

    @property
    def business_unit_id(self) -> str:
        """:returns: the root business unit's id (stable per organization)."""
        return str(uuid.uuid5(_USER_NAMESPACE, f"businessunit:{self.organization_id}"))

    def put_table(self, entity: EntityMeta) -> None:
        """Add a table to the catalog, or replace its metadata (a column, key or relationship changed).

        Copy on write: requests reading the catalog meanwhile keep iterating the one they started with.
        """
        catalog = dict(self.catalog)
        old = catalog.pop(entity.logical_name, None)
        catalog[entity.logical_name] = entity
        by_set = dict(self._by_set)
        if old is not None:
            by_set.pop(old.entity_set_name, None)
        by_set[entity.entity_set_name] = entity
        self._swap(catalog, by_set)

    def drop_table(self, entity: EntityMeta) -> None:
        """Remove a table from the catalog (copy on write, as :meth:`put_table`)."""
        catalog = {name: e for name, e in self.catalog.items() if name != entity.logical_name}
        by_set = {name: e for name, e in self._by_set.items() if name != entity.entity_set_name}
        self._swap(catalog, by_set)

    def _swap(self, catalog: Mapping[str, EntityMeta], by_set: dict[str, EntityMeta]) -> None:
        previous = (self.catalog, self._by_set)
        # A change set (or any transaction) that rolls back takes the metadata change back with the DDL.
        self.storage.on_rollback(lambda: self._set(*previous))
        self._set(catalog, by_set)

    def _set(self, catalog: Mapping[str, EntityMeta], by_set: dict[str, EntityMeta]) -> None:
        self.catalog = catalog
        self.storage.catalog = catalog
        self._by_set = by_set

    def set_many_to_many(self, relationships: list[dict[str, Any]]) -> None:
        """Replace the many-to-many relationships (copy on write, taken back on rollback as :meth:`put_table`)."""
        previous = self.many_to_many
        self.storage.on_rollback(lambda: setattr(self, "many_to_many", previous))
        self.many_to_many = relationships

    def by_entity_set(self, name: str) -> EntityMeta | None:
        """:returns: the table whose entity set name is exactly ``name``, or ``None``."""
        return self._by_set.get(name)


@dataclass
class Call:
    """One Web API request being served.

    :param service: the service.
    :param request: the request.
    :param root: the service root URL with the requested version (``…/api/data/v9.2/``).
    :param principal: the caller.
    :param preferences: the parsed ``Prefer`` headers.
    :param aliases: the query string's parameter aliases (``@p`` → literal text).
    :param path: the resource path below the service root (``accounts(…)/primarycontactid``).
    """

    service: Service
    request: Request
    root: str
    principal: Principal
    preferences: Preferences
    aliases: dict[str, str]
    path: str

    @property
    def method(self) -> str:
        """:returns: the request method."""
        return self.request.method

    def renderer(self) -> Renderer:
        """:returns: a renderer for this request's annotations."""
        self.preferences.apply("odata.include-annotations")
        return Renderer(self.service.storage, self.service.catalog, self.preferences, compile_expansion)

    def require_write(self, entity: EntityMeta, action: str) -> None:
        """Refuse a write when the principal may only read.

        :param entity: the table written.
        :param action: ``Create``, ``Write``, ``Delete``, ``Append`` or ``AppendTo``.
        :raises DataverseError: 403 ``0x80040220``.
        """
        if not entity.writable:
            raise DataverseError(
                405, "0x80040227", f"The table '{entity.logical_name}' cannot be changed through the Web API."
            )
        if self.principal.access != "full":
            raise privilege_denied(
                self.principal.user_id,
                f"prv{action}{entity.schema_name}",
                entity.logical_name,
                entity.object_type_code,
            )

    def json(self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        """:returns: a JSON response with Dataverse's content type and ``Preference-Applied`` if any."""
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = Response(payload, status=status, content_type=JSON_CONTENT_TYPE)
        self._finish(response, headers)
        return response

    def empty(self, status: int = 204, headers: Mapping[str, str] | None = None) -> Response:
        """:returns: a response without a body."""
        response = Response(b"", status=status)
        response.headers.pop("Content-Type", None)
        self._finish(response, headers)
        return response

    def text(self, body: str, status: int = 200) -> Response:
        """:returns: a ``text/plain`` response (``$count``, ``$value``)."""
        response = Response(body.encode("utf-8"), status=status, content_type="text/plain")
        self._finish(response, None)
        return response

    def _finish(self, response: Response, headers: Mapping[str, str] | None) -> None:
        for name, value in (headers or {}).items():
            response.headers[name] = value
        applied = self.preferences.applied()
        if applied:
            response.headers["Preference-Applied"] = applied
