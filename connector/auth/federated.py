"""Workload identity federation: a federated token, read from a file, as the client assertion.

AKS workload identity, GitHub Actions and other platforms write a short-lived token (a JWT their own issuer signs,
``aud`` ``api://AzureADTokenExchange``) to a file and replace it before it expires. The connector sends the file's
current content as ``client_assertion`` with the JWT bearer assertion type; it reads the file again for every
attempt of every token request, so a rotated token is used at once and never one the platform has replaced.

Not for: signing assertions with a key of our own (``assertion``).
"""

from __future__ import annotations

from typing import Final

from connector.errors import ConfigError
from connector.oauth_settings import FEDERATED_TOKEN_FILE_FIELD, federated_token_file_problem

__all__ = ["FederatedTokenFile"]

_MAX_BYTES: Final = 65536  # service account tokens are a few kilobytes


class FederatedTokenFile:
    """Reads the federated token from its file, anew each time.

    :param path: the file's path.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"FederatedTokenFile({self.path!r})"

    def read(self) -> str:
        """:returns: the token as the file holds it now, without surrounding white space.

        :raises ConfigError: naming ``oauth2.federated_token_file`` when the file is missing, unreadable or empty.
        """
        problem = federated_token_file_problem(self.path)
        if problem is None:
            try:
                with open(self.path, "rb") as file:
                    token = file.read(_MAX_BYTES).decode("ascii").strip()
            except (OSError, UnicodeDecodeError) as error:
                problem = f"{self.path!r} cannot be read as a token ({type(error).__name__}): check the file"
            else:
                if token:
                    return token
                problem = f"{self.path!r} is empty: the platform has not written a federated token to it yet"
        raise ConfigError.single(FEDERATED_TOKEN_FILE_FIELD, problem)
