"""Turn JSON Schema validation failures into field errors a person can act on.

Used for the connection and OAuth settings and for operation options. Every failure becomes a
:class:`~connector.errors.FieldError` naming the field by its dotted path and saying what is wrong in plain words;
the value seen is quoted unless the field is secret (``writeOnly``), so a bad secret never reaches a message.
A ``oneOf`` of object sections (the OAuth tab's sign-in methods, the signature key's formats), told apart by fields
of one allowed value, is reported as the section the instance chose: its own failures, and a field of another section
as one that does not apply; not as "is not valid under any of the given schemas".
This module does not know what the settings mean; ``settings`` and the operations check that.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from connector.errors import FieldError

__all__ = ["field_path", "fixed_value", "schema_field_errors"]

_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "blank",
}


def field_path(prefix: str, parts: Iterable[str | int]) -> str:
    """Render a location as ``prefix.a.b[2].c``.

    :param prefix: the name of the settings part (``connection``, ``oauth2``, ``options``), or empty.
    :param parts: the keys and indexes below it.
    :returns: the dotted path.
    """
    path = prefix
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else part
    return path


@functools.lru_cache(maxsize=32)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def schema_field_errors(instance: Any, schema: Mapping[str, Any], prefix: str) -> list[FieldError]:
    """Validate an instance and describe every failure.

    :param instance: the value to check.
    :param schema: a JSON Schema 2020-12.
    :param prefix: prepended to every field path.
    :returns: the field errors, ordered by path, empty when the instance is valid.
    """
    validator = _validator(json.dumps(schema, sort_keys=True))
    found: dict[tuple[str, str], FieldError] = {}
    for error in validator.iter_errors(instance):
        for field_error in _describe(error, prefix):
            found.setdefault((field_error.path, field_error.message), field_error)
    return sorted(found.values(), key=lambda item: item.path)


def _describe(error: ValidationError, prefix: str) -> list[FieldError]:
    path = field_path(prefix, list(error.absolute_path))
    secret = bool(isinstance(error.schema, Mapping) and error.schema.get("writeOnly"))
    kind = error.validator
    expected: Any = error.validator_value
    if kind == "required":
        required: Sequence[str] = expected
        present = error.instance if isinstance(error.instance, Mapping) else {}
        because = _condition_description(error)
        message = f"is required: {because}" if because else "is required"
        return [FieldError(field_path(path, [name]), message) for name in required if name not in present]
    if kind == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {}) if isinstance(error.schema, Mapping) else {}
        return [
            FieldError(field_path(path, [str(name)]), "is not a field of this form")
            for name in error.instance
            if name not in known
        ]
    if kind in {"oneOf", "anyOf"} and _is_sections(expected):
        return _describe_sections(error, prefix)
    if kind == "oneOf" and _is_choice(expected):
        choices = ", ".join(str(option["const"]) for option in expected)
        return [FieldError(path, f"must be one of {choices}{_seen(error.instance, secret)}")]
    if kind == "enum":
        choices = ", ".join(str(option) for option in expected)
        return [FieldError(path, f"must be one of {choices}{_seen(error.instance, secret)}")]
    if kind == "type":
        expected = expected
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return [FieldError(path, f"must be {_article(wanted)}, not {_json_type(error.instance)}")]
    if kind == "contains":
        return [FieldError(path, _contains_message(expected))]
    if kind == "pattern":
        examples = error.schema.get("examples") if isinstance(error.schema, Mapping) else None
        hint = f", like {examples[0]!r}" if examples else ""
        return [FieldError(path, f"does not have the expected form{hint}{_seen(error.instance, secret)}")]
    if kind == "minLength" and expected == 1:
        return [FieldError(path, "must not be blank")]
    if kind in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}:
        relation = {"minimum": "at least", "maximum": "at most"}.get(kind, kind)
        return [FieldError(path, f"must be {relation} {expected}{_seen(error.instance, secret)}")]
    if kind == "const":
        return [FieldError(path, f"must be {expected!r}{_seen(error.instance, secret)}")]
    if secret:
        return [FieldError(path, f"is not valid ({kind})")]
    return [FieldError(path, error.message)]


def fixed_value(prop: Any) -> tuple[bool, Any]:
    """The one value a property allows (``const``, or an ``enum`` of one), which tells a section apart.

    :returns: ``(True, value)``, or ``(False, None)`` when the property allows more than one value.
    """
    if isinstance(prop, Mapping):
        if "const" in prop:
            return True, prop["const"]
        if isinstance(prop.get("enum"), list) and len(prop["enum"]) == 1:
            return True, prop["enum"][0]
    return False, None


def _discriminators(section: Mapping[str, Any]) -> set[str]:
    """The properties whose single allowed value tells a section apart from its siblings."""
    return {name for name, prop in section.get("properties", {}).items() if fixed_value(prop)[0]}


def _is_sections(options: Any) -> bool:
    return isinstance(options, list) and all(isinstance(o, Mapping) and _discriminators(o) for o in options)


def _rejects_choice(error: ValidationError, discriminators: set[str]) -> bool:
    """Whether a section's failure says the instance did not choose that section."""
    if error.validator in {"const", "enum"}:
        return len(error.relative_path) == 1 and error.relative_path[0] in discriminators
    required = error.validator_value
    if error.validator == "required" and not error.relative_path and isinstance(error.instance, Mapping):
        return isinstance(required, list) and any(n in discriminators and n not in error.instance for n in required)
    return False


def _describe_sections(error: ValidationError, prefix: str) -> list[FieldError]:
    sections: Sequence[Mapping[str, Any]] = error.validator_value  # type: ignore[assignment] # checked by _is_sections
    by_section: dict[int, list[ValidationError]] = {index: [] for index in range(len(sections))}
    for sub in error.context or ():
        by_section[int(sub.relative_schema_path[0])].append(sub)
    chosen = [
        index
        for index, section in enumerate(sections)
        if not any(_rejects_choice(sub, _discriminators(section)) for sub in by_section[index])
    ]
    if chosen:
        index = min(chosen, key=lambda i: len(by_section[i]))
        title = sections[index].get("title", f"option {index + 1}")
        found: list[FieldError] = []
        for sub in by_section[index]:
            if sub.validator == "additionalProperties" and not sub.relative_path:
                known = sections[index].get("properties", {})
                found += [
                    FieldError(
                        field_path(field_path(prefix, list(sub.absolute_path)), [str(name)]),
                        f"does not apply when '{title}' is chosen: remove it",
                    )
                    for name in (sub.instance if isinstance(sub.instance, Mapping) else {})
                    if name not in known
                ]
            else:
                found += _describe(sub, prefix)
        return found
    # No section was chosen: say which values the telling fields may take.
    path = field_path(prefix, list(error.absolute_path))
    allowed: dict[str, list[Any]] = {}
    for section in sections:
        for name in sorted(_discriminators(section)):
            value = fixed_value(section["properties"][name])[1]
            if value not in allowed.setdefault(name, []):
                allowed[name].append(value)
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    problems = []
    for name, values in allowed.items():
        if name not in instance:
            if all(name in section.get("required", ()) for section in sections):
                problems.append(FieldError(field_path(path, [name]), "is required"))
        elif instance[name] not in values:
            choices = ", ".join(str(value) for value in values)
            problems.append(
                FieldError(field_path(path, [name]), f"must be one of {choices}{_seen(instance[name], False)}")
            )
    return problems or [
        FieldError(
            path,
            "matches none of the options: "
            + ", ".join(str(section.get("title", index + 1)) for index, section in enumerate(sections)),
        )
    ]


def _condition_description(error: ValidationError) -> str | None:
    """The ``description`` of the ``then`` that required a field, if any: why the field is required in this case
    (a section's own ``required`` needs no reason).
    """
    schema_path = list(error.schema_path)
    if len(schema_path) < 2 or schema_path[-2] != "then" or not isinstance(error.schema, Mapping):
        return None
    description = error.schema.get("description")
    return description if isinstance(description, str) and description else None


def _is_choice(options: Any) -> bool:
    return isinstance(options, list) and all(isinstance(option, Mapping) and "const" in option for option in options)


def _contains_message(subschema: Any) -> str:
    name = None
    if isinstance(subschema, Mapping):
        name_schema = subschema.get("properties", {}).get("name", {})
        if isinstance(name_schema, Mapping):
            name = name_schema.get("const")
    if name:
        return f"must include a '{name}' parameter with a value"
    return "does not contain a required item"


def _seen(value: Any, secret: bool) -> str:
    if secret:
        return ""
    if isinstance(value, str) and "@" in value:
        # A URL or host with user information may carry a password (``user:pw@host``): never quote it.
        return " (not shown: it may hold a user name and password)"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f" (got {text})"


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"
