"""Operation options: checked against the operation's schema, then parsed once into a frozen object.

:func:`parse_options` is the only way options enter a run. It checks the raw options against
``schemas/operations/<name>.schema.json`` and what a schema cannot say (repeated custom query parameter names, names
the operation sets itself), fills in the schema's defaults (:func:`with_defaults`: a default is written in the schema
only, never in code), builds the operation's options object, and asks it for the problems only it can see
(well-formed FetchXML, typed function parameters). Every bad option is listed in one
:class:`~connector.errors.ConfigError`, before any document is read. Later code reads attributes of the frozen
object, never string keys.

This module holds what every operation's options share: :class:`CommonOptions`, the base :class:`OperationOptions`,
and the bases of the read options (:class:`ReadOptions`, Get and Query) and of the write options
(:class:`WriteOptions`, Create, Update, Upsert and Delete). Each operation's own class lives with the operation
(``get``, ``delete``, ``execute``, ``associations``) or, when several modules use it, beside them
(``query_options``, ``write_options``). Not for per-document values: see :mod:`connector.dataverse.operations.inputs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from connector.dataverse.request_headers import header_option_errors, run_headers
from connector.errors import ConfigError, FieldError
from connector.resources import load_schema
from connector.validation import schema_field_errors

__all__ = [
    "FORMATTED_VALUE",
    "RESERVED_QUERY_NAMES",
    "TAG_PARAMETER",
    "BypassBusinessLogic",
    "CommonOptions",
    "OperationOptions",
    "OptionsParser",
    "ReadOptions",
    "WriteOptions",
    "option_schema",
    "parse_options",
    "query_parameter_errors",
    "strings",
    "validate_options",
    "with_defaults",
]

RESERVED_QUERY_NAMES: Final = frozenset(
    {"$select", "$filter", "$orderby", "$expand", "$top", "$skiptoken", "$deltatoken", "$id", "fetchXml"}
)
"""Query options the operations set themselves; a custom parameter of the same name would contradict them."""

TAG_PARAMETER: Final = "tag"
"""The query parameter Dataverse hands to plug-ins as the shared variable ``tag`` (the ``tag`` option)."""

FORMATTED_VALUE: Final = "OData.Community.Display.V1.FormattedValue"
"""The annotation that carries an attribute's display text (the ``formatted_values`` option asks for it)."""

BypassBusinessLogic = Literal["none", "CustomSync", "CustomAsync", "CustomSync,CustomAsync"]
"""The custom business logic a write skips (``MSCRM.BypassBusinessLogicExecution``)."""


def option_schema(operation: str) -> Mapping[str, Any]:
    """:returns: the JSON Schema of an operation's options (read once per process)."""
    return load_schema(f"operations/{operation}")


def with_defaults(schema: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fill in the defaults an object schema gives its properties; the given values win.

    :param schema: an object schema (the options' own, or a nested one such as ``bulk``).
    :param given: the values given, or ``None``.
    :returns: a new dict: every property with a default, then the given values.
    """
    filled = {name: prop["default"] for name, prop in schema.get("properties", {}).items() if "default" in prop}
    filled.update(given or {})
    return filled


def strings(values: Iterable[Any] | None) -> tuple[str, ...]:
    """:returns: a list option (``select``, ``key_fields`` …) as a tuple of strings, in order."""
    return tuple(str(value) for value in values or ())


@dataclass(frozen=True)
class CommonOptions:
    """The options every operation has.

    :param entity_set: the object type (entity set), when the operation has one.
    :param query_parameters: the custom URL query parameters, in order (the ``tag`` option last, as ``tag``).
    :param return_application_errors: whether service errors become output documents.
    :param headers: the request headers the options choose, sent on every request of the run
        (:func:`~connector.dataverse.request_headers.run_headers`).
    """

    entity_set: str | None
    query_parameters: tuple[tuple[str, str], ...]
    return_application_errors: bool
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> CommonOptions:
        """:returns: the common options of validated options (defaults filled in)."""
        entity_set = values.get("entity_set")
        parameters = [(str(item["name"]), str(item["value"])) for item in values["custom_query_parameters"]]
        if values.get("tag"):
            parameters.append((TAG_PARAMETER, str(values["tag"])))
        return cls(
            entity_set=str(entity_set) if entity_set else None,
            query_parameters=tuple(parameters),
            return_application_errors=bool(values["return_application_error_responses"]),
            headers=run_headers(values),
        )


@dataclass(frozen=True, kw_only=True)
class OperationOptions:
    """The base of every operation's options.

    :param common: the options every operation has.
    """

    common: CommonOptions

    def problems(self) -> list[FieldError]:
        """What the schema cannot check (none, unless the operation says otherwise).

        :returns: the field errors, paths starting with ``options``.
        """
        return []


@dataclass(frozen=True, kw_only=True)
class ReadOptions(OperationOptions):
    """What the operations that return records (Get, Query) share: columns, expansions, annotations.

    :param select: the properties to return (``$select``); empty returns all.
    :param expand: the navigation properties to expand (``$expand``).
    :param formatted_values: ask for each value's display text.
    :param include_annotations: further annotations to ask for.
    """

    select: tuple[str, ...]
    expand: tuple[str, ...]
    formatted_values: bool
    include_annotations: tuple[str, ...]

    def select_expand(self) -> list[tuple[str, str]]:
        """:returns: the ``$select`` and ``$expand`` query options, when given."""
        query: list[tuple[str, str]] = []
        if self.select:
            query.append(("$select", ",".join(self.select)))
        if self.expand:
            query.append(("$expand", ",".join(self.expand)))
        return query

    def annotation_preference(self, extra: Iterable[str] = ()) -> str | None:
        """The ``Prefer`` value asking for the annotations the options want.

        :param extra: annotations the operation itself needs (FetchXML paging).
        :returns: ``odata.include-annotations="…"``, or ``None`` when none are wanted.
        """
        wanted = [FORMATTED_VALUE] if self.formatted_values else []
        wanted.extend(self.include_annotations)
        wanted.extend(extra)
        unique = list(dict.fromkeys(wanted))
        return f'odata.include-annotations="{",".join(unique)}"' if unique else None


@dataclass(frozen=True, kw_only=True)
class WriteOptions(OperationOptions):
    """What every write (Create, Update, Upsert, Delete) has: whether the service's custom logic runs.

    :param bypass_custom_plugins: skip custom synchronous plug-ins.
    :param bypass_business_logic: the custom business logic to skip (``none``: run it all).
    """

    bypass_custom_plugins: bool
    bypass_business_logic: BypassBusinessLogic

    def headers(self) -> dict[str, str]:
        """:returns: the ``MSCRM.*`` headers these options choose."""
        headers: dict[str, str] = {}
        if self.bypass_custom_plugins:
            headers["MSCRM.BypassCustomPluginExecution"] = "true"
        if self.bypass_business_logic != "none":
            headers["MSCRM.BypassBusinessLogicExecution"] = self.bypass_business_logic
        return headers


OptionsT = TypeVar("OptionsT", bound=OperationOptions)

OptionsParser = Callable[[str, Mapping[str, Any]], OptionsT]
"""Builds an operation's options object from its name and its validated options (defaults filled in)."""


def parse_options(operation: str, options: Any, parser: OptionsParser[OptionsT]) -> OptionsT:
    """Check an operation's options and parse them, once, into its frozen options object.

    :param operation: the operation's name (its schema is ``operations/<operation>``).
    :param options: the options as the host passed them (``None`` counts as none).
    :param parser: builds the operation's options object from the validated options.
    :returns: the options object.
    :raises ConfigError: listing every bad option (paths start with ``options``).
    """
    values = validate_options(operation, options)
    parsed = parser(operation, values)
    problems = parsed.problems()
    if problems:
        raise ConfigError(problems, _summary(operation))
    return parsed


def validate_options(operation: str, options: Any) -> dict[str, Any]:
    """Check an operation's options against its schema and the rules of custom query parameters.

    :param operation: the operation's name (its schema is ``operations/<operation>``).
    :param options: the options as the host passed them.
    :returns: the options with the schema's top-level defaults filled in.
    :raises ConfigError: listing every bad option (paths start with ``options``).
    """
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ConfigError(
            [FieldError("options", f"must be an object, not {type(options).__name__}")], _summary(operation)
        )
    schema = option_schema(operation)
    errors = schema_field_errors(dict(options), schema, "options")
    errors += query_parameter_errors(options.get("custom_query_parameters"), "options.custom_query_parameters")
    errors += header_option_errors(options)
    errors += _tag_errors(options)
    if errors:
        raise ConfigError(errors, _summary(operation))
    return with_defaults(schema, options)


def _tag_errors(options: Mapping[str, Any]) -> list[FieldError]:
    """The ``tag`` option is the ``tag`` query parameter: both at once would send two."""
    parameters = options.get("custom_query_parameters")
    if not options.get("tag") or not isinstance(parameters, list):
        return []
    named = any(isinstance(item, Mapping) and item.get("name") == TAG_PARAMETER for item in parameters)
    message = "cannot be combined with a custom query parameter named tag: choose one"
    return [FieldError("options.tag", message)] if named else []


def _summary(operation: str) -> str:
    return f"The options of the {operation} operation are invalid"


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
