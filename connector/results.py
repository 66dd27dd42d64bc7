"""The values hooks take and return: connections, token sets, authorization steps, test reports, operation results
and browse results.

All are frozen dataclasses so a host can pass them around without fearing that a connector changes them later, and
all have reprs that never show a secret. This module holds types only; the behaviour lives in the plugin.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal

from connector.context import RuntimeContext
from connector.secrets import REDACTED

__all__ = [
    "AuthorizationCallback",
    "AuthorizationStart",
    "AuthorizationStep",
    "BrowseRequest",
    "BrowseResult",
    "Check",
    "CheckStatus",
    "Connection",
    "Diagnostic",
    "ErrorInfo",
    "ObjectType",
    "OperationResult",
    "ResultStatus",
    "SettingsT",
    "TestReport",
    "TokenSet",
]

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    SettingsT = TypeVar("SettingsT", covariant=True, default=object)
else:
    from typing import TypeVar

    # Python 3.11's TypeVar takes no default; only the type checker reads it (typing_extensions ships with mypy).
    SettingsT = TypeVar("SettingsT", covariant=True)
"""The type of a :class:`Connection`'s settings: the connector's own, which the contract cannot name. A bare
``Connection`` is ``Connection[object]``: any connector's connection, whose settings a host only passes back."""


@dataclass(frozen=True)
class Diagnostic:
    """A remark about a connection that is not an error (e.g. plain ``http``).

    :param level: ``warning`` or ``info``.
    :param field: the settings field it concerns.
    :param message: what the user should know.
    """

    level: Literal["warning", "info"]
    field: str
    message: str


@dataclass(frozen=True)
class Connection(Generic[SettingsT]):
    """A live connection returned by ``connect``: validated settings and the connector's private state.

    Generic over its settings' type: the connector that made it returns ``Connection[ItsSettings]`` and narrows a
    ``Connection`` passed back to its hooks with ``isinstance`` on ``settings``. Hosts see ``Connection`` (of
    ``object``) and read nothing of the settings: they only pass the connection back (docs/decisions.md D62).

    :param connector_id: the id of the connector that made it; hooks of other connectors ignore it.
    :param settings: the connector's validated, immutable settings object. Its ``repr`` must show no secret: the
        connection's ``repr`` includes it.
    :param context: the runtime context the host lent.
    :param diagnostics: remarks about the settings (warnings such as ``http`` in production).
    :param state: connector-private live state (HTTP session, token source), opaque to the host: typed ``object``
        so that nothing reads it unchecked, and because the contract names no type of a plugin's. The connector that
        made the connection narrows it with ``isinstance`` before reading it. Hosts must not touch it.
    """

    connector_id: str
    settings: SettingsT
    context: RuntimeContext
    diagnostics: tuple[Diagnostic, ...] = ()
    state: object = field(default=None, compare=False)

    def __repr__(self) -> str:
        return f"Connection(connector_id={self.connector_id!r}, settings={self.settings!r})"


@dataclass(frozen=True)
class TokenSet:
    """Tokens issued by the identity provider, for the host to store encrypted.

    :param access_token: the bearer token sent to the Web API (never the ID token).
    :param token_type: normally ``Bearer``.
    :param expires_at: epoch seconds when the access token expires, if known.
    :param refresh_token: present for the authorization-code grant.
    :param scope: the granted scope, space-separated, if the provider said.
    """

    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - a token type name, not a secret
    expires_at: float | None = None
    refresh_token: str | None = None
    scope: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """:returns: a JSON-serialisable dict for a token store."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_at": self.expires_at,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        """:returns: the token set saved by :meth:`to_dict`."""
        expires_at = data.get("expires_at")
        return cls(
            access_token=str(data["access_token"]),
            token_type=str(data.get("token_type") or "Bearer"),
            expires_at=float(expires_at) if expires_at is not None else None,
            refresh_token=data.get("refresh_token"),
            scope=data.get("scope"),
        )

    def __repr__(self) -> str:
        refresh = REDACTED if self.refresh_token else None
        return (
            f"TokenSet(access_token={REDACTED!r}, token_type={self.token_type!r}, expires_at={self.expires_at!r}, "
            f"refresh_token={refresh!r}, scope={self.scope!r})"
        )


@dataclass(frozen=True)
class AuthorizationStart:
    """The first step of the authorization-code grant: what the host must open and keep.

    :param url: the provider's authorization URL to open in a browser.
    :param state: the random state value; the host keeps it and passes it back with the callback.
    :param code_verifier: the PKCE verifier; the host keeps it (secret) and passes it back.
    :param redirect_uri: the callback URL the provider will redirect to.
    """

    url: str
    state: str
    code_verifier: str
    redirect_uri: str

    def __repr__(self) -> str:
        return f"AuthorizationStart(url={self.url!r}, state={self.state!r}, code_verifier={REDACTED!r})"


@dataclass(frozen=True)
class AuthorizationCallback:
    """The second step: the query parameters the provider redirected with, plus what the host kept.

    :param params: the callback's query parameters (``code`` and ``state``, or ``error``).
    :param state: the state value returned by the start step.
    :param code_verifier: the PKCE verifier returned by the start step.
    """

    params: Mapping[str, str]
    state: str
    code_verifier: str

    def __repr__(self) -> str:
        return f"AuthorizationCallback(params={sorted(self.params)!r}, state={self.state!r})"


AuthorizationStep = Literal["start", "token"] | AuthorizationCallback
"""``"start"`` begins the authorization-code grant; ``"token"`` asks for a token set with the configured grant
(client credentials, or a refresh of the stored token set); an :class:`AuthorizationCallback` completes it."""


class CheckStatus(enum.Enum):
    """The outcome of one Test Connection check."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    """One step of Test Connection.

    :param name: a stable identifier (``settings``, ``dns``, ``token``, ``whoami`` ...).
    :param title: a short human title.
    :param status: the outcome.
    :param duration_ms: how long it took.
    :param message: what happened, readable by a user, free of secrets.
    :param field: for failures, the form field to fix.
    :param remediation: for failures, one sentence saying what to do.
    :param details: extra facts shown by the host (ids, URLs).
    """

    name: str
    title: str
    status: CheckStatus
    duration_ms: float
    message: str
    field: str | None = None
    remediation: str | None = None
    # ``dataclasses.field``: the name ``field`` is this class's own attribute above.
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class TestReport:
    """The result of Test Connection: ordered checks.

    :param connector_id: which connector ran it.
    :param checks: the checks, in the order they ran.
    """

    __test__ = False  # not a pytest test class despite its name

    connector_id: str
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed (warnings allowed)."""
        return all(check.status is not CheckStatus.FAILED for check in self.checks)


class ResultStatus(enum.Enum):
    """The outcome of one input document (or one record of a query)."""

    SUCCESS = "success"
    NOT_MODIFIED = "not_modified"
    DELETED = "deleted"
    APPLICATION_ERROR = "application_error"
    FAILED = "failed"
    UNKNOWN = "outcome_unknown"
    """The request may or may not have been carried out, and the connector could not find out which (its answer
    was lost or unreadable, and the record could not be read back). Neither done nor failed: a host must check
    (``error`` says what to look for; ``id`` is set when the record's key is known) before sending the document
    again, because re-sending a create without its key may store it twice."""


@dataclass(frozen=True)
class ErrorInfo:
    """Why a document failed.

    :param message: Boomi's form ``(<code>)<message>[<http status>]`` for service errors, or a plain sentence.
    :param failure_type: the :class:`~connector.errors.FailureType` value.
    :param code: the service's error code, when there was one.
    :param status: the HTTP status, when there was one.
    :param field: the option or document field to fix, when there is one.
    :param retry_after: for a throttled or unavailable service, the seconds it asked the caller to wait
        (``Retry-After``) before sending again, when it said.
    """

    message: str
    failure_type: str
    code: str | None = None
    status: int | None = None
    field: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class OperationResult:
    """One output of ``execute_operation``.

    :param status: the outcome.
    :param payload: the output document (a record, an application error body, or ``None``).
    :param properties: tracked properties such as ``etag``, ``id``, ``entity_url``.
    :param error: why it failed, when it did; for ``outcome_unknown``, why the outcome is not known.
    :param input_index: the index of the input document it answers (``None`` for query records).
    """

    status: ResultStatus
    payload: Mapping[str, Any] | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    error: ErrorInfo | None = None
    input_index: int | None = None

    @property
    def ok(self) -> bool:
        """True unless the document failed or its outcome is unknown."""
        return self.status not in (ResultStatus.FAILED, ResultStatus.UNKNOWN)

    @property
    def retry_after(self) -> float | None:
        """For a document that failed because the service was throttled or unavailable: the seconds it asked to wait
        before this document is sent again (its ``Retry-After``), when it said.
        """
        return self.error.retry_after if self.error is not None else None


@dataclass(frozen=True)
class BrowseRequest:
    """What ``browse`` should list or describe.

    :param action: ``list`` the object types, or ``describe`` one.
    :param name_filter: for ``list``: a case-sensitive pattern with ``?`` and ``*``.
    :param object_type: for ``describe``: the entity set name.
    :param use_cache: whether metadata may come from the connection's cache.
    """

    action: Literal["list", "describe"]
    name_filter: str | None = None
    object_type: str | None = None
    use_cache: bool = True


@dataclass(frozen=True)
class ObjectType:
    """One object type a connection can reach.

    :param name: the entity set name (``accounts``).
    :param label: a human label (``Account``).
    :param logical_name: the table's logical name (``account``).
    """

    name: str
    label: str
    logical_name: str | None = None


@dataclass(frozen=True)
class BrowseResult:
    """What ``browse`` found.

    :param object_types: for ``list``.
    :param request_schema: for ``describe``: the JSON Schema of a request document.
    :param response_schema: for ``describe``: the JSON Schema of a response document.
    """

    object_types: tuple[ObjectType, ...] = ()
    request_schema: Mapping[str, Any] | None = None
    response_schema: Mapping[str, Any] | None = None
