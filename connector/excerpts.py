"""Excerpts of what a service said, for error messages and results: capped in length, the rest kept out of them.

A service's text can be any length: a 2 MB error body once became a 2,050,046-character message. What goes into a
message, an error or a result is at most a limit of it (:data:`MESSAGE_LIMIT` characters of a message), followed by
``… N more characters left out``. The whole text is logged only at DEBUG, with bearer tokens, JWTs and the known
secret values replaced by ``***``. Not for choosing what to quote: the error describers
(:mod:`connector.dataverse.odata.answers`, :mod:`connector.auth.entra_errors`) do that.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from connector.secrets import REDACTED

__all__ = ["CODE_LIMIT", "MESSAGE_LIMIT", "excerpt", "excerpt_strings", "redact_tokens"]

MESSAGE_LIMIT: Final = 2000
"""The most characters of a service's message that go into an error or a result."""
CODE_LIMIT: Final = 100
"""The most characters of an error code, a reason phrase or a header value quoted."""

_JWT: Final = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
_BEARER: Final = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+")

_log = logging.getLogger(__name__)


def redact_tokens(text: str, secrets: Iterable[str] = ()) -> str:
    """:param text: free text from a service.
    :param secrets: values that must not appear (shorter than 4 characters they are not searched for).
    :returns: the text with every JWT, ``Bearer <token>`` and secret value replaced by ``***``.
    """
    for secret in sorted({value for value in secrets if value and len(value) >= 4}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    return _BEARER.sub(lambda match: f"{match.group(1)}{REDACTED}", text)


def excerpt(
    text: str, *, limit: int = MESSAGE_LIMIT, what: str = "the service's text", secrets: Iterable[str] = ()
) -> str:
    """Cap a service's text for a message or a result.

    :param text: what the service said.
    :param limit: the most characters kept.
    :param what: names the text in the DEBUG log line.
    :param secrets: values to redact from the log line.
    :returns: the text when it fits; else its first ``limit`` characters and ``… N more characters left out``. The
        whole text then goes to the DEBUG log only, redacted.
    """
    if len(text) <= limit:
        return text
    left_out = len(text) - limit
    if _log.isEnabledFor(logging.DEBUG):
        _log.debug("%s had %d characters; in full (redacted): %s", what, len(text), redact_tokens(text, secrets))
    return f"{text[:limit]}… {left_out:,} more characters left out"


def excerpt_strings(value: Any, *, limit: int = MESSAGE_LIMIT) -> Any:
    """Cap every string inside a JSON value (an error body returned as a document), keys included.

    :param value: a parsed JSON value.
    :param limit: the most characters of each string.
    :returns: the same shape, each string capped with :func:`excerpt`.
    """
    if isinstance(value, str):
        return excerpt(value, limit=limit, what="a string of the service's error body")
    if isinstance(value, Mapping):
        return {excerpt(str(key), limit=CODE_LIMIT): excerpt_strings(item, limit=limit) for key, item in value.items()}
    if isinstance(value, list):
        return [excerpt_strings(item, limit=limit) for item in value]
    return value
