"""Encryption at rest for the reference host's token stores (the file store and the Redis store): Fernet
(AES-128-CBC + HMAC-SHA256) over the JSON of the stored mapping, with one key per deployment.

The key is a urlsafe-base64 Fernet key given by the caller or read from :data:`KEY_ENV`. Not for: where the bytes
go (the stores), or which key file a store keeps beside itself (:mod:`connector.host.token_store`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from connector.errors import ConfigError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

__all__ = ["KEY_ENV", "TokenCipher", "key_from_environment"]

KEY_ENV: Final = "CONNECTOR_TOKEN_KEY"
"""A Fernet key (urlsafe base64, 32 bytes) shared by every worker that reads the store."""


def key_from_environment() -> bytes | None:
    """:returns: the key in :data:`KEY_ENV`, or ``None`` when it is unset or blank."""
    value = os.environ.get(KEY_ENV, "").strip()
    return value.encode() if value else None


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
        except ValueError:
            raise ConfigError.single(
                "token store key",
                f"the key from {source} is not a Fernet key (32 bytes in urlsafe base64, 44 characters)",
            ) from None

    def __repr__(self) -> str:
        return f"TokenCipher(source={self.source!r})"

    def encrypt(self, data: Mapping[str, Any]) -> bytes:
        """:returns: the ciphertext of ``data`` as sorted JSON."""
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def decrypt(self, token: bytes, where: str) -> dict[str, Any]:
        """Decrypt what :meth:`encrypt` produced.

        :param token: the ciphertext.
        :param where: what held it (a file, a Redis key), for the error message.
        :returns: the mapping.
        :raises ConfigError: when the key is not the one it was written with, or the plain text is not a mapping.
        """
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken:
            raise ConfigError.single(
                "token store key",
                f"cannot decrypt {where}: the key ({self.source}) is not the one it was written with",
            ) from None
        data = json.loads(plain)
        if not isinstance(data, dict):
            raise ConfigError.single("token store key", f"{where} does not hold a token store's mapping")
        return data
