"""What a failed send of ``requests`` means: whether the request may have reached the server, and, for a proxy or TLS
failure, the diagnosis Test Connection gives (:mod:`connector.diagnosis`).

``requests`` wraps ``urllib3``'s exceptions, which wrap the socket's and ``ssl``'s: the facts (a tunnel's status, an
``ssl.SSLCertVerificationError`` and its code, a refused connection) are found by walking that chain. Not for
sending, nor for answers that arrived: :mod:`connector.transport` does both.
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from connector.diagnosis import (
    Finding,
    ca_bundle_unreadable,
    certificate_refused,
    handshake_failed,
    proxy_credentials_refused,
    proxy_name_unresolved,
    proxy_not_a_proxy,
    proxy_unreachable,
    tunnel_refused,
)
from connector.errors import ConfigError
from connector.excerpts import CODE_LIMIT, excerpt
from connector.retry import NoAnswerError
from connector.settings import ProxyPolicy

__all__ = ["proxy_failure", "sent_nothing", "tls_finding"]

_TUNNEL_FAILED: Final = re.compile(r"^Tunnel connection failed: (\d{3})\s*(.*)$", re.ASCII)
_BASE_URL_FIELD: Final = "connection.base_url"
_PROTOCOL_FIELD: Final = "connection.protocol"

CauseT = TypeVar("CauseT", bound=BaseException)


def sent_nothing(error: requests.RequestException) -> bool:
    """:returns: whether the connection was never made, so re-sending cannot duplicate anything."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason: Any = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, NewConnectionError)


def tls_finding(url: str, error: requests.exceptions.SSLError, *, field: str, ca_bundle: str | None) -> Finding:
    """What a TLS failure means, as Test Connection words it: trust, the certificate's name or age, the port.

    :param url: the request's URL.
    :param error: what ``requests`` raised.
    :param field: the settings field naming the URL's host.
    :param ca_bundle: the runtime's CA bundle, or ``None`` for the default one.
    :returns: the finding.
    """
    host, authority = _authority(url)
    verification = _cause(error, ssl.SSLCertVerificationError)
    if verification is not None:
        reason = str(verification.verify_message or verification.reason or "verification failed")
        return certificate_refused(
            verification.verify_code, reason, authority=authority, host=host, endpoint_field=field, ca_bundle=ca_bundle
        )
    failure = _cause(error, ssl.SSLError)
    reason = str(failure.reason or failure.strerror or type(failure).__name__) if failure else "TLS failed"
    if failure is not None and getattr(failure, "library", None) in ("X509", "PEM"):
        # Loading the CA bundle failed (a file that holds no certificate), before any handshake.
        return ca_bundle_unreadable(ca_bundle, reason)
    return handshake_failed(authority, reason, field, _PROTOCOL_FIELD if field == _BASE_URL_FIELD else field)


def proxy_failure(
    url: str, error: requests.exceptions.ProxyError, *, origin: str, field: str, policy: ProxyPolicy
) -> ConfigError | NoAnswerError:
    """What a failure at the runtime proxy means, as Test Connection words it.

    :param url: the request's URL.
    :param error: what ``requests`` raised.
    :param origin: the URL's origin, for the message.
    :param field: the settings field naming the URL's host.
    :param policy: the proxy.
    :returns: a configuration error for credentials refused, a proxy unreachable or not a proxy, or a tunnel its
        rules refuse; a :class:`~connector.retry.NoAnswerError` (never sent, so retried) when the proxy could not
        reach the host, which may be down for a while.
    """
    for item in _chain(error):
        tunnel = _TUNNEL_FAILED.match(str(item))
        if tunnel is None:
            continue
        status, reason = int(tunnel.group(1)), excerpt(tunnel.group(2).strip(), limit=CODE_LIMIT)
        refusal = proxy_credentials_refused(status, "", policy, tunnel=True)
        if refusal is not None:
            return refusal.as_config_error()
        finding = tunnel_refused(status, reason, _authority(url)[1], field, policy)
        if status < 500:
            return finding.as_config_error()
        return NoAnswerError(
            origin, timed_out=False, reached=False, cause="ProxyError", said=finding.message, field=field
        )
    if _cause(error, socket.gaierror) is not None or _cause(error, NameResolutionError) is not None:
        return proxy_name_unresolved(policy, "name or service not known").as_config_error()
    if _cause(error, ConnectionRefusedError) is not None or "Connection refused" in str(error):
        return proxy_unreachable(
            policy, "connection refused: nothing listens on that port", refused=True
        ).as_config_error()
    if _cause(error, ConnectTimeoutError) is not None or _cause(error, TimeoutError) is not None:
        return proxy_unreachable(policy, "no answer within the connect time-out", refused=False).as_config_error()
    if _cause(error, NewConnectionError) is not None:
        return proxy_unreachable(policy, "the connection failed", refused=False).as_config_error()
    return proxy_not_a_proxy(policy, type(_chain(error)[-1]).__name__).as_config_error()


def _chain(error: BaseException) -> list[BaseException]:
    """Every exception an exception of ``requests`` wraps: its arguments, ``reason``, ``original_error``, causes."""
    found: list[BaseException] = []
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        found.append(item)
        stack.extend(argument for argument in item.args if isinstance(argument, BaseException))
        for name in ("reason", "original_error", "__cause__", "__context__"):
            nested = getattr(item, name, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
    return found


def _cause(error: BaseException, kind: type[CauseT]) -> CauseT | None:
    """:returns: the first exception of a kind in an exception's chain."""
    return next((item for item in _chain(error) if isinstance(item, kind)), None)


def _authority(url: str) -> tuple[str, str]:
    """:returns: a URL's host, and ``host:port`` with the port defaulted by scheme."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return host, f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
