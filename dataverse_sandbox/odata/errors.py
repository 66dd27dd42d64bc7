"""The one error the query-option compiler raises, with Dataverse's codes and message shapes.

Not for HTTP: the Web API turns an :class:`ODataQueryError` into a 400 response with ``code`` and ``message``.
"""

from __future__ import annotations

__all__ = [
    "INVALID_ARGUMENT",
    "UNKNOWN_PROPERTY",
    "ODataQueryError",
    "echo",
    "invalid_argument",
    "syntax_error",
    "unknown_property",
]

#: Dataverse's InvalidArgument: bad syntax, wrong types, unsupported constructs.
INVALID_ARGUMENT = "0x80040203"
#: The code Dataverse returns for a property name its entity type does not have.
UNKNOWN_PROPERTY = "0x80060888"

# Long expressions are cut in messages: the user needs the neighbourhood of the error, not a 30 KB echo.
_ECHO_LIMIT = 200


class ODataQueryError(Exception):
    """A query option the sandbox refuses, as Dataverse would (HTTP 400).

    :param code: the Dataverse error code (:data:`UNKNOWN_PROPERTY` or :data:`INVALID_ARGUMENT`).
    :param message: Dataverse-style text that names the property, value or position to fix.
    :param position: 0-based offset of the offending character in the expression, when there is one.
    """

    def __init__(self, code: str, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.position = position


def echo(text: str) -> str:
    """:returns: ``text`` shortened for an error message."""
    if len(text) <= _ECHO_LIMIT:
        return text
    return text[:_ECHO_LIMIT] + "…"


def unknown_property(name: str, entity: str) -> ODataQueryError:
    """:returns: Dataverse's error for a property the entity does not have."""
    return ODataQueryError(
        UNKNOWN_PROPERTY,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{entity}'.",
    )


def syntax_error(text: str, position: int, detail: str) -> ODataQueryError:
    """:returns: an error locating a syntax problem, in the OData libraries' ``at position N in '…'`` shape.

    :param text: the whole expression, echoed so the user sees what was parsed.
    :param position: 0-based offset of the problem.
    :param detail: what was expected or found.
    """
    return ODataQueryError(
        INVALID_ARGUMENT,
        f"Syntax error at position {position} in '{echo(text)}': {detail}",
        position=position,
    )


def invalid_argument(message: str, *, position: int | None = None) -> ODataQueryError:
    """:returns: an InvalidArgument error with the given message."""
    return ODataQueryError(INVALID_ARGUMENT, message, position=position)
