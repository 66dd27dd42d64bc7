"""The hosts Test Connection checks, and the time-outs it checks them with.

An :class:`Endpoint` is one host the connection talks to (the token endpoint's, the Web API's) together with the
form field that names it, so every network failure can point at the field to fix. Not for talking to it
(``network``, ``http_head``, ``proxy``, ``tls``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from connector.settings import DEFAULT_TIMEOUT_MS, Timeouts

__all__ = ["Endpoint", "effective_timeouts"]


def effective_timeouts(timeouts: Timeouts) -> tuple[float, float]:
    """The time-outs Test Connection uses: the connection's, with "wait indefinitely" capped.

    :param timeouts: the connection's resolved time-outs (``None`` waits indefinitely).
    :returns: ``(connect, read)`` in seconds. A test must end, so an indefinite wait becomes the runtime default
        (:data:`~connector.settings.DEFAULT_TIMEOUT_MS`).
    """
    cap = DEFAULT_TIMEOUT_MS / 1000
    return (timeouts.connect or cap, timeouts.read or cap)


@dataclass(frozen=True)
class Endpoint:
    """A host the connection talks to, and the settings field that names it.

    :param role: what it is to the user (``token endpoint``, ``Web API``, or both).
    :param url: a URL on it (the token URL, the API root).
    :param field: the form field holding that URL (``oauth2.access_token_url``, ``connection.base_url``).
    """

    role: str
    url: str
    field: str

    @property
    def scheme(self) -> str:
        """``https`` or ``http``."""
        return urlsplit(self.url).scheme.lower()

    @property
    def host(self) -> str:
        """The host name or address, without brackets."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The port, defaulted by scheme."""
        return urlsplit(self.url).port or (443 if self.scheme == "https" else 80)

    @property
    def authority(self) -> str:
        """``host:port`` as it goes in a ``Host`` header or a ``CONNECT`` line."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def path(self) -> str:
        """The URL's path, ``/`` when empty."""
        return urlsplit(self.url).path or "/"

    @property
    def address_key(self) -> tuple[str, str, int]:
        """What two endpoints share when one connection would serve both."""
        return (self.scheme, self.host.lower(), self.port)

    @property
    def scheme_field(self) -> str:
        """The field that chooses the scheme: the protocol for the Web API, the URL itself for the token endpoint."""
        return "connection.protocol" if self.field == "connection.base_url" else self.field
