"""Functions and actions: ``WhoAmI``, ``RetrieveVersion``, file blocks, ``BulkDelete`` and the sandbox's sample
custom operations.

For the connector's Execute operation the sandbox offers one of each shape (reference §1.4):
an unbound action ``sample_Echo``, an unbound function ``sample_Add(A=…,B=…)`` (parameter aliases allowed), an
action bound to an account ``accounts(<id>)/Microsoft.Dynamics.CRM.sample_Promote`` and a function bound to an
account ``accounts(<id>)/Microsoft.Dynamics.CRM.sample_CountContacts()``. Each is declared here once; the
``$metadata`` document is generated from these declarations.
Not for the bulk actions (``CreateMultiple``…): see :mod:`.bulk`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from werkzeug.wrappers import Response

from . import files
from .bulk_delete import bulk_delete
from .context import Call
from .errors import bad_request, method_not_allowed, unknown_segment
from .metadata import EntityMeta
from .paths import Segment, parse_parameters
from .storage import Row
from .writes import update_row

__all__ = ["OPERATIONS", "Operation", "Parameter", "invoke"]

NAMESPACE = "Microsoft.Dynamics.CRM."


@dataclass(frozen=True)
class Parameter:
    """A parameter of an operation, or a property of its response.

    :param name: the name (case-sensitive).
    :param edm_type: ``Edm.String``, ``Edm.Int32``, ``Edm.Boolean``, ``Edm.Guid``…
    :param optional: whether it may be left out.
    """

    name: str
    edm_type: str
    optional: bool = False


#: Runs an operation: the call, the bound row (``None`` when unbound) and the validated parameters.
Runner = Callable[[Call, Row | None, Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Operation:
    """A function (GET, no side effects) or action (POST).

    :param name: the name without namespace.
    :param kind: ``Function`` or ``Action``.
    :param bound_to: the logical name of the table it is bound to, ``None`` when unbound.
    :param parameters: what it takes.
    :param returns: the properties of its ``<name>Response`` complex type.
    :param writes: whether it needs write access.
    :param run: the implementation.
    """

    name: str
    kind: Literal["Function", "Action"]
    bound_to: str | None
    parameters: tuple[Parameter, ...]
    returns: tuple[Parameter, ...]
    writes: bool
    run: Runner


def _who_am_i(call: Call, _row: Row | None, _params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "BusinessUnitId": call.service.business_unit_id,
        "UserId": call.principal.user_id,
        "OrganizationId": call.service.organization_id,
    }


def _retrieve_version(_call: Call, _row: Row | None, _params: Mapping[str, Any]) -> dict[str, Any]:
    return {"Version": "9.2.24101.00000"}


def _echo(_call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    text = str(params["Text"])
    return {"Text": text, "Number": params.get("Number"), "Flag": params.get("Flag"), "Length": len(text)}


def _add(_call: Call, _row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"Sum": int(params["A"]) + int(params["B"])}


def _promote(call: Call, row: Row | None, params: Mapping[str, Any]) -> dict[str, Any]:
    assert row is not None
    entity = call.service.catalog["account"]
    previous = row["accountcategorycode"]
    update_row(call, entity, row, {"accountcategorycode": 1})
    return {"PreviousCategory": previous, "Category": 1, "Reason": params.get("Reason")}


def _count_contacts(call: Call, row: Row | None, _params: Mapping[str, Any]) -> dict[str, Any]:
    assert row is not None
    total = call.service.storage.scalar(
        "SELECT count(*) FROM contact WHERE _parentcustomerid_value = ?", [row["accountid"]]
    )
    return {"Count": int(total or 0)}


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "WhoAmI",
            "Function",
            None,
            (),
            (
                Parameter("BusinessUnitId", "Edm.Guid"),
                Parameter("UserId", "Edm.Guid"),
                Parameter("OrganizationId", "Edm.Guid"),
            ),
            False,
            _who_am_i,
        ),
        Operation(
            "RetrieveVersion", "Function", None, (), (Parameter("Version", "Edm.String"),), False, _retrieve_version
        ),
        Operation(
            "sample_Echo",
            "Action",
            None,
            (
                Parameter("Text", "Edm.String"),
                Parameter("Number", "Edm.Int32", True),
                Parameter("Flag", "Edm.Boolean", True),
            ),
            (
                Parameter("Text", "Edm.String"),
                Parameter("Number", "Edm.Int32"),
                Parameter("Flag", "Edm.Boolean"),
                Parameter("Length", "Edm.Int32"),
            ),
            False,
            _echo,
        ),
        Operation(
            "sample_Add",
            "Function",
            None,
            (Parameter("A", "Edm.Int32"), Parameter("B", "Edm.Int32")),
            (Parameter("Sum", "Edm.Int32"),),
            False,
            _add,
        ),
        Operation(
            "sample_Promote",
            "Action",
            "account",
            (Parameter("Reason", "Edm.String", True),),
            (
                Parameter("PreviousCategory", "Edm.Int32"),
                Parameter("Category", "Edm.Int32"),
                Parameter("Reason", "Edm.String"),
            ),
            True,
            _promote,
        ),
        Operation(
            "sample_CountContacts",
            "Function",
            "account",
            (),
            (Parameter("Count", "Edm.Int32"),),
            False,
            _count_contacts,
        ),
        # File and image columns in blocks (Learn: "Use file column data"); the runners are in .files.
        Operation(
            "InitializeFileBlocksUpload",
            "Action",
            None,
            (
                Parameter("Target", "mscrm.crmbaseentity"),
                Parameter("FileAttributeName", "Edm.String"),
                Parameter("FileName", "Edm.String"),
            ),
            (Parameter("FileContinuationToken", "Edm.String"),),
            True,
            files.initialize_upload,
        ),
        Operation(
            "UploadBlock",
            "Action",
            None,
            (
                Parameter("BlockId", "Edm.String"),
                Parameter("BlockData", "Edm.Binary"),
                Parameter("FileContinuationToken", "Edm.String"),
            ),
            (),
            True,
            files.upload_block,
        ),
        Operation(
            "CommitFileBlocksUpload",
            "Action",
            None,
            (
                Parameter("FileName", "Edm.String"),
                Parameter("MimeType", "Edm.String"),
                Parameter("BlockList", "Collection(Edm.String)"),
                Parameter("FileContinuationToken", "Edm.String"),
            ),
            (Parameter("FileId", "Edm.Guid"), Parameter("FileSizeInBytes", "Edm.Int64")),
            True,
            files.commit_blocks,
        ),
        Operation(
            "InitializeFileBlocksDownload",
            "Action",
            None,
            (
                Parameter("Target", "mscrm.crmbaseentity"),
                Parameter("FileAttributeName", "Edm.String"),
                Parameter("DataSource", "Edm.String", True),
            ),
            (
                Parameter("FileContinuationToken", "Edm.String"),
                Parameter("FileSizeInBytes", "Edm.Int64"),
                Parameter("FileName", "Edm.String"),
                Parameter("IsChunkingSupported", "Edm.Boolean"),
            ),
            False,
            files.initialize_download,
        ),
        Operation(
            "DownloadBlock",
            "Action",
            None,
            (
                Parameter("Offset", "Edm.Int64"),
                Parameter("BlockLength", "Edm.Int64"),
                Parameter("FileContinuationToken", "Edm.String"),
            ),
            (Parameter("Data", "Edm.Binary"),),
            False,
            files.download_block,
        ),
        # Learn: "Delete data in bulk"; the job runs on a background thread (.bulk_delete).
        Operation(
            "BulkDelete",
            "Action",
            None,
            (
                Parameter("QuerySet", "Collection(mscrm.QueryExpression)"),
                Parameter("JobName", "Edm.String"),
                Parameter("SendEmailNotification", "Edm.Boolean"),
                Parameter("ToRecipients", "Collection(Edm.Guid)"),
                Parameter("CCRecipients", "Collection(Edm.Guid)"),
                Parameter("RecurrencePattern", "Edm.String"),
                Parameter("StartDateTime", "Edm.DateTimeOffset"),
                Parameter("SourceImportId", "Edm.Guid", True),
                Parameter("RunNow", "Edm.Boolean", True),
            ),
            (Parameter("JobId", "Edm.Guid"),),
            True,
            bulk_delete,
        ),
    )
}


def _check_type(operation: Operation, parameter: Parameter, value: Any) -> Any:
    expected: tuple[type, ...] = {
        "Edm.String": (str,),
        "Edm.Int32": (int,),
        "Edm.Boolean": (bool,),
        "Edm.Guid": (str,),
    }.get(parameter.edm_type, (object,))
    if value is None and parameter.optional:
        return None
    wrong_bool = isinstance(value, bool) and bool not in expected
    if wrong_bool or not isinstance(value, expected):
        raise bad_request(
            f"The parameter '{parameter.name}' of '{operation.name}' expects a value of type '{parameter.edm_type}'."
        )
    return value


def _validate(operation: Operation, given: Mapping[str, Any]) -> dict[str, Any]:
    declared = {p.name: p for p in operation.parameters}
    for name in given:
        if name not in declared:
            raise bad_request(f"The parameter '{name}' is not a parameter of '{operation.name}'.")
    result: dict[str, Any] = {}
    for parameter in operation.parameters:
        if parameter.name not in given:
            if not parameter.optional:
                raise bad_request(f"The parameter '{parameter.name}' of '{operation.name}' is required.")
            continue
        result[parameter.name] = _check_type(operation, parameter, given[parameter.name])
    return result


def find(name: str, bound_to: EntityMeta | None) -> Operation | None:
    """:returns: the operation called ``name`` (namespace optional when unbound) with that binding, or ``None``."""
    bare = name.removeprefix(NAMESPACE)
    if bound_to is not None and not name.startswith(NAMESPACE):
        return None
    operation = OPERATIONS.get(bare)
    if operation is None or operation.bound_to != (bound_to.logical_name if bound_to else None):
        return None
    return operation


def invoke(call: Call, segment: Segment, operation: Operation, row: Row | None, body: Any) -> Response:
    """Run an operation for a request.

    :param segment: the path segment naming it (a function's parameters are inside its parentheses).
    :param row: the bound row, ``None`` when unbound.
    :param body: an action's decoded JSON body (``None`` when absent).
    :returns: 200 with ``<name>Response``.
    :raises DataverseError: 405 for the wrong method, 400 for bad parameters, 403 for a write without access.
    """
    if operation.kind == "Function":
        if call.method != "GET":
            raise method_not_allowed(f"The function '{operation.name}' must be called with GET.")
        given = {
            str(name): value for name, value in parse_parameters(segment.args or "", call.aliases) if name is not None
        }
    else:
        if call.method != "POST":
            raise method_not_allowed(f"The action '{operation.name}' must be called with POST.")
        if segment.args:
            raise unknown_segment(segment.raw)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise bad_request(f"The body of action '{operation.name}' must be a JSON object.")
        given = body
    if operation.writes:
        bound = call.service.catalog[operation.bound_to] if operation.bound_to else None
        if bound is not None:
            call.require_write(bound, "Write")
    result = operation.run(call, row, _validate(operation, given))
    if not operation.returns:
        return call.empty(204)
    return call.json({"@odata.context": f"{call.root}$metadata#{NAMESPACE}{operation.name}Response", **result})
