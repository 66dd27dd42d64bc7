"""Encryption at rest for the reference host's token stores (the file store and the Redis store): Fernet
(AES-128-CBC + HMAC-SHA256) over the JSON of the stored mapping, with one key per deployment.

The key is a urlsafe-base64 Fernet key given by the caller or read from :data:`KEY_ENV`. What cannot be used is a
configuration error (:func:`token_store_error`), never a transient one a host would retry, and never a bare
``ValueError``: a malformed key (its value never quoted), stored bytes that are not Fernet's (cut short, overwritten),
bytes that another key wrote (or that were altered), and plain text that is not a store's mapping are told apart, and
each says which file or key and what to do. Not for: where the bytes go (the stores), or which key file a store keeps
beside itself (:mod:`connector.host.token_store`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from connector.errors import ConfigError, FieldError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = [
    "KEY_ENV",
    "STORE_FIELD",
    "STORE_KEY_FIELD",
    "TokenCipher",
    "key_from_environment",
    "new_key_hint",
    "token_store_error",
]

KEY_ENV: Final = "CONNECTOR_TOKEN_KEY"
"""A Fernet key (urlsafe base64, 32 bytes) shared by every worker that reads the store."""

STORE_FIELD: Final = "token_store"
"""The field errors name for the store itself (its file or Redis key); not a form field: the host's setting."""

STORE_KEY_FIELD: Final = "token_store_key"
"""The field errors name for the store's encryption key (:data:`KEY_ENV` or a key file)."""

_SUMMARY: Final = "The token store cannot be used"
_VERSION: Final = 0x80
_HEADER_BYTES: Final = 1 + 8 + 16  # version, timestamp, IV
_HMAC_BYTES: Final = 32
_BLOCK: Final = 16


def token_store_error(field: str, message: str) -> ConfigError:
    """:returns: the configuration error of a token store that cannot be used (``field``: :data:`STORE_FIELD` or
    :data:`STORE_KEY_FIELD`).
    """
    return ConfigError([FieldError(field, message)], summary=_SUMMARY)


def new_key_hint() -> str:
    """:returns: how to make a new key, for messages (a new key cannot read what the old one wrote)."""
    return "python3 -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def key_from_environment() -> bytes | None:
    """:returns: the key in :data:`KEY_ENV`, or ``None`` when it is unset or blank.

    :raises ConfigError: when it is not ASCII (a Fernet key is urlsafe base64); the value is never quoted.
    """
    value = os.environ.get(KEY_ENV, "").strip()
    if not value:
        return None
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise token_store_error(STORE_KEY_FIELD, _malformed(KEY_ENV)) from None


def _malformed(source: str) -> str:
    return (
        f"the key in {source} is not a Fernet key (32 bytes in urlsafe base64: 44 characters ending in '='). Restore "
        "the key the store was written with (every worker that shares the store needs the same one). If it is lost, "
        f"make a new one ({new_key_hint()}), move the token store aside and authorize the connections again: "
        "a new key cannot read what the old one wrote"
    )


def _is_fernet_token(token: bytes) -> bool:
    """Whether bytes have Fernet's shape (version, timestamp, IV, whole cipher blocks, HMAC), whatever the key."""
    try:
        raw = base64.urlsafe_b64decode(token.strip())
    except (binascii.Error, ValueError):
        return False
    body = len(raw) - _HEADER_BYTES - _HMAC_BYTES
    return bool(raw) and raw[0] == _VERSION and body >= _BLOCK and body % _BLOCK == 0


class TokenCipher:
    """Encrypts and decrypts the stored mappings.

    :param key: a Fernet key.
    :param source: where the key came from, for error messages (``CONNECTOR_TOKEN_KEY``, a key file's path).
    :raises ConfigError: when the key is not a Fernet key (its value is never quoted).
    """

    def __init__(self, key: bytes, source: str = KEY_ENV) -> None:
        from cryptography.fernet import Fernet

        self.source = source
        try:
            self._fernet: Fernet = Fernet(key)
        except (ValueError, TypeError):  # binascii.Error is a ValueError
            raise token_store_error(STORE_KEY_FIELD, _malformed(source)) from None

    def __repr__(self) -> str:
        return f"TokenCipher(source={self.source!r})"

    def encrypt(self, data: Mapping[str, Any]) -> bytes:
        """:returns: the ciphertext of ``data`` as sorted JSON."""
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def decrypt(self, token: bytes, where: str, *, remedy: str) -> dict[str, Any]:
        """Decrypt what :meth:`encrypt` produced.

        :param token: the ciphertext.
        :param where: what held it (a file, a Redis key), for the error message.
        :param remedy: what to do when it cannot be read (restore a backup, move it aside ...), for the message.
        :returns: the mapping.
        :raises ConfigError: when the bytes are not Fernet's (damaged), the key is not the one they were written with
            (or they were altered), or the plain text is not a mapping. ``where`` is never changed here.
        """
        from cryptography.fernet import InvalidToken

        if not _is_fernet_token(token):
            raise token_store_error(
                STORE_FIELD,
                f"{where} is damaged: its {len(token)} bytes are not the store's encrypted content (cut short, "
                f"garbled or overwritten by something else). It was left as it is. {remedy}",
            )
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken:
            raise token_store_error(
                STORE_KEY_FIELD,
                f"{where} cannot be decrypted with the key from {self.source}: it was written with another key, or "
                f"its bytes were altered. It was left as it is. Restore the key it was written with; if that key is "
                f"lost, {remedy[:1].lower()}{remedy[1:]}",
            ) from None
        try:
            data = json.loads(plain)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            data = None
        if not isinstance(data, dict):
            raise token_store_error(
                STORE_FIELD,
                f"{where} decrypts, but holds no token store's mapping (was it written by another program?). It was "
                f"left as it is. {remedy}",
            )
        return data
