"""Keep secrets out of what the reference host logs and prints.

Secrets are found two ways, so that a connector whose schema forgets ``writeOnly`` is still covered: every property a
connector's JSON Schemas mark ``writeOnly``, and any key whose name says it holds a secret (``client_secret``,
``password``, ``refresh_token``, ``private_key``, ``client_assertion`` ...). :func:`scrub_text` removes known secret
values from free text (error messages from a server that echoed one back).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from connector.secrets import REDACTED

__all__ = ["SECRET_KEY_PATTERN", "redact", "scrub_text", "secret_values", "write_only_names"]

SECRET_KEY_PATTERN: Final = re.compile(
    r"(^|[_-])(secret|password|passwd|private_?key|pkcs12|assertion|access_token|refresh_token|id_token|"
    r"code_verifier|api_key|authorization|proxy-authorization)$",
    re.IGNORECASE,
)
"""Key names that hold secrets whatever a schema says (``client_secret``, ``Authorization``, ``refresh_token``)."""


def property_names(schema: Mapping[str, Any], marked: Callable[[Mapping[str, Any]], bool]) -> set[str]:
    """:returns: the names of every property anywhere in a schema (nested objects, ``oneOf`` options, ``items``)
    whose own schema ``marked`` accepts.
    """
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for name, subschema in (node.get("properties") or {}).items():
                if isinstance(subschema, Mapping) and marked(subschema):
                    names.add(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(schema)
    return names


def write_only_names(schema: Mapping[str, Any]) -> set[str]:
    """:returns: the names of every property marked ``writeOnly`` anywhere in a schema."""
    return property_names(schema, lambda subschema: bool(subschema.get("writeOnly")))


def _is_secret_key(key: str, secret_names: Iterable[str]) -> bool:
    return key in secret_names or bool(SECRET_KEY_PATTERN.search(key))


def redact(value: Any, secret_names: Iterable[str] = ()) -> Any:
    """Copy a JSON-like value with every secret replaced by ``***``.

    :param value: settings, options or any nested dicts and lists.
    :param secret_names: property names known to be secret (from :func:`write_only_names`).
    :returns: the redacted copy.
    """
    names = set(secret_names)
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if _is_secret_key(str(key), names) and item not in (None, "") else redact(item, names))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, names) for item in value]
    return value


def secret_values(value: Any, secret_names: Iterable[str] = ()) -> set[str]:
    """:returns: every non-empty string held under a secret key, for :func:`scrub_text`."""
    names = set(secret_names)
    found: set[str] = set()
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _is_secret_key(str(key), names) and isinstance(item, str) and item:
                found.add(item)
            else:
                found |= secret_values(item, names)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= secret_values(item, names)
    return found


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of the given secret values in a text with ``***``.

    :param text: a message, a log line, a report.
    :param secrets: the values to remove; values shorter than 4 characters are ignored (they would mangle text).
    :returns: the scrubbed text.
    """
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
