"""The TLS step of Test Connection: handshake and certificate verification against the runtime's CA bundle.

Trust is the transport's: the runtime context's CA bundle when it names one, else the bundle ``requests`` uses by
default, so a certificate the test accepts is one the operations accept. Each failure names its field: an untrusted
issuer ``runtime.ca_bundle``, a certificate for another name or expired the endpoint's URL field, a port that does not
speak TLS the protocol; :mod:`connector.diagnosis` words them, as it does for every request. Not for the TCP
connection or proxy tunnel underneath (``network``, ``proxy``).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

from connector.diagnosis import CA_BUNDLE_FIELD, Finding, ca_bundle_unreadable, certificate_refused, handshake_failed
from connector.diagnostics.endpoint import Endpoint
from connector.diagnostics.http_head import describe_os_error
from connector.diagnostics.report import Outcome

__all__ = ["CA_BUNDLE_FIELD", "handshake"]


def handshake(
    sock: socket.socket, endpoint: Endpoint, ca_bundle: str | None, timeout: float
) -> tuple[Outcome, ssl.SSLSocket | None]:
    """Complete a TLS handshake over a connected socket (direct or tunnelled) and verify the certificate.

    :param sock: the connected socket.
    :param endpoint: the host the certificate must be valid for.
    :param ca_bundle: the runtime's CA bundle, or ``None`` for the default.
    :param timeout: seconds allowed for the handshake (the connect time-out, as ``urllib3`` counts it).
    :returns: the outcome, and the TLS socket when the handshake succeeded.
    """
    try:
        context = _context(ca_bundle)
    except (OSError, ssl.SSLError) as error:
        return _failed(ca_bundle_unreadable(ca_bundle, describe_os_error(error))), None
    sock.settimeout(timeout)
    try:
        tls = context.wrap_socket(sock, server_hostname=endpoint.host)
    except ssl.SSLCertVerificationError as error:
        reason = str(error.verify_message or error.reason or "verification failed")
        refusal = certificate_refused(
            error.verify_code,
            reason,
            authority=endpoint.authority,
            host=endpoint.host,
            endpoint_field=endpoint.field,
            ca_bundle=ca_bundle,
        )
        return _failed(refusal), None
    except TimeoutError:
        return (
            Outcome.failed(
                f"{endpoint.authority} accepted the connection but did not complete the TLS handshake within the "
                f"connect time-out of {timeout:g} s.",
                endpoint.field,
                f"Check that {endpoint.field} points at the service's https port; if it is merely slow, raise "
                "connection.connect_timeout_ms.",
            ),
            None,
        )
    except (ssl.SSLError, OSError) as error:
        failure = handshake_failed(endpoint.authority, describe_os_error(error), endpoint.field, endpoint.scheme_field)
        return _failed(failure), None
    trust = "the runtime CA bundle" if ca_bundle else "the default CA bundle"
    return (
        Outcome.passed(
            f"{tls.version()} with {endpoint.host}; the certificate is trusted ({trust}) and valid for the host.",
            _certificate_details(tls),
        ),
        tls,
    )


def _context(ca_bundle: str | None) -> ssl.SSLContext:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return ssl.create_default_context(cafile=ca_bundle or DEFAULT_CA_BUNDLE_PATH)


def _failed(finding: Finding) -> Outcome:
    return Outcome.failed(finding.message, finding.field, finding.remediation)


def _certificate_details(tls: ssl.SSLSocket) -> dict[str, str]:
    details = {"protocol": tls.version() or "", "cipher": (tls.cipher() or ("",))[0]}
    certificate: dict[str, Any] = dict(tls.getpeercert() or {})
    for key in ("subject", "issuer"):
        # getpeercert() gives each name as a tuple of relative distinguished names of (attribute, value) pairs.
        names = [f"{pair[0]}={pair[1]}" for rdn in certificate.get(key, ()) for pair in rdn]
        if names:
            details[key] = ", ".join(names)
    if certificate.get("notAfter"):
        details["valid_until"] = str(certificate["notAfter"])
    return details
