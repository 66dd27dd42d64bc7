"""Operation options: validated up front against the operation's schema, with the options every operation shares.

:func:`validate_options` checks the options against ``schemas/operations/<name>.schema.json`` and what a schema
cannot say (repeated custom query parameter names, names the operation sets itself, well-formed FetchXML), and
raises one :class:`~connector.errors.ConfigError` listing every bad option, before any document is read. The
options come back with the schema's defaults filled in, so no default is written twice.
Not for per-document values: see :mod:`connector.dataverse.operations.inputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connector.errors import ConfigError, FieldError
from connector.resources import load_schema
from connector.validation import schema_field_errors

__all__ = [
    "RESERVED_QUERY_NAMES",
    "CommonOptions",
    "query_parameter_errors",
    "validate_options",
    "write_headers",
]

RESERVED_QUERY_NAMES: Final = frozenset(
    {"$select", "$filter", "$orderby", "$expand", "$top", "$skiptoken", "$deltatoken", "$id", "fetchXml"}
)
"""Query options the operations set themselves; a custom parameter of the same name would contradict them."""

ExtraCheck = Callable[[Mapping[str, Any]], Sequence[FieldError]]


@dataclass(frozen=True)
class CommonOptions:
    """The options every operation has.

    :param entity_set: the object type (entity set), when the operation has one.
    :param query_parameters: the custom URL query parameters, in order.
    :param return_application_errors: whether service errors become output documents.
    """

    entity_set: str | None
    query_parameters: tuple[tuple[str, str], ...]
    return_application_errors: bool

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> CommonOptions:
        """:returns: the common options of validated options."""
        entity_set = options.get("entity_set")
        return cls(
            entity_set=str(entity_set) if entity_set else None,
            query_parameters=tuple(
                (str(item["name"]), str(item["value"])) for item in options.get("custom_query_parameters") or ()
            ),
            return_application_errors=bool(options.get("return_application_error_responses")),
        )


def validate_options(operation: str, options: Any, extra: ExtraCheck | None = None) -> dict[str, Any]:
    """Validate an operation's options.

    :param operation: the operation's name (its schema is ``operations/<operation>``).
    :param options: the options as the host passed them.
    :param extra: the operation's own checks, run on schema-valid options.
    :returns: the options with the schema's top-level defaults filled in.
    :raises ConfigError: listing every bad option (paths start with ``options``).
    """
    summary = f"The options of the {operation} operation are invalid"
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ConfigError([FieldError("options", f"must be an object, not {type(options).__name__}")], summary)
    schema = load_schema(f"operations/{operation}")
    errors = schema_field_errors(dict(options), schema, "options")
    errors += query_parameter_errors(options.get("custom_query_parameters"), "options.custom_query_parameters")
    if not errors and extra is not None:
        errors += extra(options)
    if errors:
        raise ConfigError(errors, summary)
    filled = {name: prop["default"] for name, prop in schema["properties"].items() if "default" in prop}
    filled.update(options)
    return filled


def query_parameter_errors(parameters: Any, path: str) -> list[FieldError]:
    """Check custom query parameters for what the schema cannot: repeated and reserved names.

    :param parameters: the list of ``{"name", "value"}`` objects (other shapes are the schema's business).
    :param path: the option's location.
    :returns: the field errors.
    """
    if not isinstance(parameters, list):
        return []
    errors = []
    seen: dict[str, int] = {}
    for index, item in enumerate(parameters):
        name = item.get("name") if isinstance(item, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            if isinstance(name, str):
                errors.append(FieldError(f"{path}[{index}].name", "must not be blank"))
            continue
        if name in RESERVED_QUERY_NAMES:
            errors.append(FieldError(f"{path}[{index}].name", f"{name!r} is set by the operation itself"))
        if name in seen:
            errors.append(FieldError(f"{path}[{index}].name", f"repeats {name!r} (already parameter {seen[name]})"))
        else:
            seen[name] = index
    return errors


def write_headers(options: Mapping[str, Any]) -> dict[str, str]:
    """The ``MSCRM.*`` headers chosen by a write operation's options.

    :param options: validated options.
    :returns: the headers to send.
    """
    headers: dict[str, str] = {}
    if options.get("duplicate_detection"):
        # Duplicate detection is off by default in the Web API; "false" means "do not suppress".
        headers["MSCRM.SuppressDuplicateDetection"] = "false"
    if options.get("bypass_custom_plugins"):
        headers["MSCRM.BypassCustomPluginExecution"] = "true"
    bypass = options.get("bypass_business_logic")
    if bypass and bypass != "none":
        headers["MSCRM.BypassBusinessLogicExecution"] = str(bypass)
    return headers
