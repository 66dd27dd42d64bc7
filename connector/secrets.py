"""A wrapper that keeps secret values out of reprs, strings, logs and JSON.

Client secrets, private keys, key passwords, proxy passwords and tokens are held as :class:`Secret` from the moment
settings are parsed. Only the code that must send a value (the HTTP layer, the JWT signer) calls :meth:`Secret.reveal`.
This module does not scrub free text; ``redaction`` does that for logs and error messages.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REDACTED", "Secret"]

REDACTED: Final = "***"


class Secret:
    """An opaque secret string. ``str()``, ``repr()`` and formatting never show the value.

    :param value: the secret.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """:returns: the secret value, for the one place that must send it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return repr(self)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling a secret would put it on disk or on the wire in clear; refuse.
        raise TypeError("Secret values cannot be pickled")
