"""The Execute operation: call an action or a function once per input document.

* Actions: ``POST [<binding>/]<Name>`` with the parameters as the JSON body.
* Functions: ``GET [<binding>/]<Name>(P1=@p1,…)?@p1=<literal>``; each parameter travels as a parameter alias,
  written as an OData literal (strings quoted, GUIDs bare when typed so, objects as JSON), so values never change
  the URL's structure.
* Binding: none; a record (the document's edit link, key fields or primary key); or the entity set. Bound names
  are qualified with ``Microsoft.Dynamics.CRM.`` when given bare.

Parameters are the ``parameters`` option overlaid with the document's members (minus ``@`` annotations and the
members that addressed the record). The answer's JSON is the output document. Its options are
:class:`ExecuteOptions`. Not for CRUD.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from connector.dataverse.odata.answers import json_body
from connector.dataverse.odata.literals import LiteralError, LiteralType, format_literal
from connector.dataverse.operations.inputs import DocumentError, document_query_parameters, resolve_target
from connector.dataverse.operations.options import CommonOptions, OperationOptions, strings
from connector.dataverse.operations.outcomes import error_result, properties_of, success_result
from connector.dataverse.operations.running import OperationContext
from connector.errors import FieldError
from connector.results import OperationResult

__all__ = ["ExecuteOptions", "execute"]

NAMESPACE: Final = "Microsoft.Dynamics.CRM."
_PARAMETER_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, kw_only=True)
class ExecuteOptions(OperationOptions):
    """The Execute operation's options.

    :param name: the action's or function's name (bare or fully qualified).
    :param kind: ``action`` (POST) or ``function`` (GET).
    :param binding: ``none``, ``entity`` (a record the document addresses) or ``collection`` (the entity set).
    :param key_fields: for a record-bound call, the document members that form an alternate key.
    :param parameters: the static parameters, in order (read-only).
    :param parameter_types: for functions, how to write a parameter in the URL, by name (read-only).
    """

    name: str
    kind: Literal["action", "function"]
    binding: Literal["none", "entity", "collection"]
    key_fields: tuple[str, ...]
    parameters: Mapping[str, Any]
    parameter_types: Mapping[str, LiteralType]

    @classmethod
    def from_values(cls, operation: str, values: Mapping[str, Any]) -> ExecuteOptions:
        """:returns: the options of validated values (``operation`` is ``execute``; defaults filled in)."""
        return cls(
            common=CommonOptions.from_values(values),
            name=str(values["name"]),
            kind=values["kind"],
            binding=values["binding"],
            key_fields=strings(values["key_fields"]),
            parameters=MappingProxyType(dict(values["parameters"])),
            parameter_types=MappingProxyType(dict(values["parameter_types"])),
        )

    def problems(self) -> list[FieldError]:
        """:returns: a function's static parameters that cannot be written as the literal of their type."""
        errors: list[FieldError] = []
        if self.kind != "function":
            return errors
        for name, value in self.parameters.items():
            try:
                format_literal(value, self.parameter_types.get(name))
            except LiteralError as error:
                errors.append(FieldError(f"options.parameters.{name}", str(error)))
        return errors


def execute(context: OperationContext[ExecuteOptions], index: int, document: Mapping[str, Any]) -> OperationResult:
    """Call the action or function for one document.

    :param context: the run.
    :param index: the document's index.
    :param document: the parameters (and, for a record-bound call, the record's address).
    :returns: ``success`` with the answer (``None`` for an action that returns nothing), or the error result.
    """
    options = context.options
    binding = options.binding
    name = options.name
    base = ""
    consumed: frozenset[str] = frozenset()
    record_id = None
    if binding == "entity":
        target = resolve_target(context.client, context.metadata, context.entity_set, options.key_fields, document)
        base, consumed, record_id = context.client.relative(target.url), target.consumed, target.record_id
    elif binding == "collection":
        base = context.entity_set
    if binding != "none" and "." not in name:
        name = NAMESPACE + name
    parameters: dict[str, Any] = dict(options.parameters)
    parameters.update(
        (key, value)
        for key, value in document.items()
        if isinstance(key, str) and not key.startswith("@") and key not in consumed
    )
    path = f"{base}/{name}" if base else name
    custom = document_query_parameters(document, context.common.query_parameters)
    if options.kind == "function":
        call, aliases = _function_call(parameters, options.parameter_types)
        response = context.client.send("GET", f"{path}({call})", query=[*aliases, *custom])
    else:
        response = context.client.send("POST", path, query=custom, json=parameters)
    if response.status_code >= 400:
        return error_result(
            context.client.transport,
            response,
            index,
            application_errors=context.common.return_application_errors,
            properties=properties_of(id=record_id),
        )
    body = json_body(response) if response.status_code != 204 else None
    payload = body if isinstance(body, Mapping) else None if body is None else {"value": body}
    return success_result(payload, properties_of(id=record_id, http_status=response.status_code), index)


def _function_call(
    parameters: Mapping[str, Any], types: Mapping[str, LiteralType]
) -> tuple[str, list[tuple[str, str]]]:
    names: list[str] = []
    aliases: list[tuple[str, str]] = []
    for number, (name, value) in enumerate(parameters.items(), start=1):
        if not _PARAMETER_NAME.fullmatch(name):
            raise DocumentError(name, "is not a parameter name (letters, digits and _ only)")
        alias = f"@p{number}"
        try:
            literal = format_literal(value, types.get(name))
        except LiteralError as error:
            raise DocumentError(name, f"cannot be a parameter of the function: {error}") from None
        names.append(f"{name}={alias}")
        aliases.append((alias, literal))
    return ",".join(names), aliases
