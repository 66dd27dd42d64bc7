"""One error hierarchy for the connector, grouped by what the caller should do.

Every error carries three things:

* a **user message** the host shows as it is: one sentence that names the form field to fix and the value it saw
  (never a secret);
* an **internal message** for logs (already redacted by whoever raised it);
* a **failure type** (:class:`FailureType`) that tells the host what to do next: fix the configuration,
  authorize again, retry later, or give up on this record.

Hooks never let a bare ``ValueError``, ``KeyError`` or ``requests`` exception escape; they wrap it in one of the
classes below. This module is not for mapping HTTP statuses to actions: that table lives in
:mod:`connector.retry`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "ConnectorError",
    "FailureType",
    "FieldError",
    "OperationError",
    "RemoteError",
    "TransientError",
    "UnknownConnectorError",
]


class FailureType(enum.Enum):
    """What the caller should do about a failure."""

    CONFIG = "config"
    """The settings are wrong: a person must change a field, retrying is pointless."""
    AUTH = "auth"
    """The identity provider refused: fix the credential or authorize again."""
    TRANSIENT = "transient"
    """The service is busy or unreachable: the same request may succeed later."""
    REMOTE = "remote"
    """The service answered with an error that retrying will not change."""
    OPERATION = "operation"
    """One record or operation failed; the rest of the run may go on."""


@dataclass(frozen=True)
class FieldError:
    """One bad field: where it is and what is wrong with it.

    :param path: the field's location in the settings, dotted (``oauth2.client_id``) or with list indexes
        (``oauth2.token_parameters[1].name``).
    :param message: what is wrong, naming the value seen unless the field is secret.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConnectorError(Exception):
    """Root of every error the connector raises.

    :param user_message: shown to the user by the host; names the field to fix.
    :param internal_message: for logs; defaults to the user message. Must already be free of secrets.
    :param failure_type: what the caller should do.
    :param field: the settings field to fix, when there is one.
    :param status: the HTTP status that caused the error, when there was one.
    :param code: the service's error code (e.g. Dataverse's ``0x80040217`` or Entra's ``invalid_client``).
    """

    failure_type: FailureType = FailureType.OPERATION

    def __init__(
        self,
        user_message: str,
        *,
        internal_message: str | None = None,
        failure_type: FailureType | None = None,
        field: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.internal_message = internal_message if internal_message is not None else user_message
        if failure_type is not None:
            self.failure_type = failure_type
        self.field = field
        self.status = status
        self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.user_message!r}, failure_type={self.failure_type.value!r})"


class ConfigError(ConnectorError):
    """The settings or options are invalid. Carries every bad field at once, not just the first.

    :param errors: every bad field found.
    :param summary: the first line of the user message; the field list follows it.
    """

    failure_type = FailureType.CONFIG

    def __init__(self, errors: Iterable[FieldError], summary: str = "The connection settings are invalid") -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        if not self.errors:
            raise ValueError("ConfigError needs at least one FieldError")
        lines = [f"{summary}:"] + [f"  - {error}" for error in self.errors]
        first_field = self.errors[0].path
        super().__init__("\n".join(lines), field=first_field)

    @classmethod
    def single(cls, path: str, message: str) -> ConfigError:
        """Build the error for one bad field.

        :param path: the field's location.
        :param message: what is wrong.
        :returns: a :class:`ConfigError` with one :class:`FieldError`.
        """
        return cls([FieldError(path, message)])

    @property
    def fields(self) -> Sequence[str]:
        """The paths of every bad field, in the order they were found."""
        return [error.path for error in self.errors]


class AuthError(ConnectorError):
    """The identity provider or the service refused the credentials; ``field`` says which one to fix."""

    failure_type = FailureType.AUTH


class TransientError(ConnectorError):
    """Busy, throttled, timed out or unreachable; the same request may succeed later.

    :param retry_after: seconds the service asked us to wait, when it said.
    :param ambiguous: the request may have reached the service and been processed (a connection lost while
        waiting for the answer), so re-sending a non-idempotent request could apply it twice.
    :param timed_out: no answer came within the read time-out (a slow service, unlike a connection that failed).
    """

    failure_type = FailureType.TRANSIENT

    def __init__(
        self,
        user_message: str,
        *,
        retry_after: float | None = None,
        ambiguous: bool = False,
        timed_out: bool = False,
        internal_message: str | None = None,
        field: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(user_message, internal_message=internal_message, field=field, status=status, code=code)
        self.retry_after = retry_after
        self.ambiguous = ambiguous
        self.timed_out = timed_out


class RemoteError(ConnectorError):
    """The service answered with an error that retrying will not change (400, 403, 404, 412 ...)."""

    failure_type = FailureType.REMOTE


class OperationError(ConnectorError):
    """One operation or one record failed; the host may continue with the next."""

    failure_type = FailureType.OPERATION


class UnknownConnectorError(ConnectorError):
    """No installed connector claims the id a host asked for."""

    failure_type = FailureType.CONFIG
