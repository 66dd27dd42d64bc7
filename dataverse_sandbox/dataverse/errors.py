"""Dataverse's error responses: one exception type carrying the HTTP status, the hex code and the message.

Every failure of a Web API request is raised as :class:`DataverseError` and rendered once, at the edge, as
``{"error": {"code": "0x…", "message": "…"}}`` (reference §4). The factory functions hold the codes and message
texts of the cases the reference lists, so no handler invents its own wording.
"""

from __future__ import annotations

__all__ = [
    "DataverseError",
    "alternate_key_not_found",
    "bad_request",
    "duplicate_key",
    "duplicate_record",
    "invalid_argument",
    "method_not_allowed",
    "not_a_member",
    "not_found",
    "privilege_denied",
    "string_too_long",
    "unknown_property",
    "unknown_segment",
    "version_mismatch",
]

#: The generic OData-layer code Dataverse uses for unparseable requests and unknown properties.
ODATA_ERROR = "0x80060888"


class DataverseError(Exception):
    """A Web API failure, rendered as Dataverse's error JSON.

    :param status: the HTTP status.
    :param code: the hex HRESULT string.
    :param message: the message.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found(entity: str, record_id: str) -> DataverseError:
    """:returns: 404 ``0x80040217`` for a missing record."""
    return DataverseError(404, "0x80040217", f"Entity '{entity}' With Id = {record_id} Does Not Exist")


def alternate_key_not_found(entity: str) -> DataverseError:
    """:returns: 404 ``0x80060891`` for an alternate key that matches no row."""
    return DataverseError(
        404, "0x80060891", f"A record with the specified key values does not exist in {entity} entity"
    )


def duplicate_record() -> DataverseError:
    """:returns: 412 ``0x80040237`` (``If-None-Match: *`` on an existing record, or a duplicate primary key)."""
    return DataverseError(412, "0x80040237", "A record with matching key values already exists.")


def duplicate_key(key_name: str, columns: str) -> DataverseError:
    """:returns: 412 ``0x80060892`` when an alternate key's values are already taken."""
    return DataverseError(
        412,
        "0x80060892",
        f"Entity Key {key_name} violated. A record with the same value for {columns} already exists. "
        "A duplicate record cannot be created. Try again with a different value.",
    )


def version_mismatch() -> DataverseError:
    """:returns: 412 ``0x80060882`` for a stale ``If-Match`` ETag."""
    return DataverseError(
        412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided."
    )


def unknown_property(name: str, entity: str) -> DataverseError:
    """:returns: 400 ``0x80060888`` for a property the table does not have."""
    return DataverseError(
        400, ODATA_ERROR, f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{entity}'."
    )


def unknown_segment(segment: str) -> DataverseError:
    """:returns: 404 for a path segment that names nothing (code unconfirmed, reference §8)."""
    return DataverseError(404, ODATA_ERROR, f"Resource not found for the segment '{segment}'.")


def string_too_long(attribute: str, entity: str, max_length: int) -> DataverseError:
    """:returns: 400 ``0x80044331`` for a string longer than the column's ``MaxLength``."""
    return DataverseError(
        400,
        "0x80044331",
        f"A validation error occurred.  The length of the '{attribute}' attribute of the '{entity}' entity "
        f"exceeded the maximum allowed length of '{max_length}'.",
    )


def bad_request(message: str) -> DataverseError:
    """:returns: 400 ``0x80060888``, the OData layer's code for a malformed request."""
    return DataverseError(400, ODATA_ERROR, message)


def invalid_argument(message: str = "Invalid argument.") -> DataverseError:
    """:returns: 400 ``0x80040203`` (InvalidArgument)."""
    return DataverseError(400, "0x80040203", message)


def method_not_allowed(message: str) -> DataverseError:
    """:returns: 405 for a method the resource does not support."""
    return DataverseError(405, "0x80060888", message)


def privilege_denied(user_id: str, privilege: str, entity: str, type_code: int) -> DataverseError:
    """:returns: 403 ``0x80040220`` in the live message format (reference §4.3)."""
    return DataverseError(
        403,
        "0x80040220",
        f"Principal user (Id={user_id}, type=8, roleCount=1, privilegeCount=0, accessMode=0), is missing "
        f"{privilege} privilege on OTC={type_code} for entity '{entity}'. context.Caller={user_id}",
    )


def not_a_member() -> DataverseError:
    """:returns: 403 ``0x80072560`` for a principal that is not a user of the organization."""
    return DataverseError(403, "0x80072560", "The user is not a member of the organization.")
