"""The TLS step of Test Connection: handshake and certificate verification against the runtime's CA bundle.

Trust is the transport's: the runtime context's CA bundle when it names one, else the bundle ``requests`` uses by
default, so a certificate the test accepts is one the operations accept. Each failure names its field: an untrusted
issuer ``runtime.ca_bundle``, a certificate for another name the endpoint's URL field, a port that does not speak
TLS the protocol. Not for the TCP connection or proxy tunnel underneath (``network``, ``proxy``).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any, Final

from connector.diagnostics.endpoint import Endpoint
from connector.diagnostics.http_head import describe_os_error
from connector.diagnostics.report import Outcome

__all__ = ["CA_BUNDLE_FIELD", "handshake"]

CA_BUNDLE_FIELD: Final = "runtime.ca_bundle"

_HOSTNAME_MISMATCH: Final = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_CERT_HAS_EXPIRED: Final = 10  # X509_V_ERR_CERT_HAS_EXPIRED


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
        return (
            Outcome.failed(
                f"The runtime's CA bundle {ca_bundle} could not be read ({describe_os_error(error)}).",
                CA_BUNDLE_FIELD,
                "Point the runtime's CA bundle at a readable PEM file of trusted CA certificates.",
            ),
            None,
        )
    sock.settimeout(timeout)
    try:
        tls = context.wrap_socket(sock, server_hostname=endpoint.host)
    except ssl.SSLCertVerificationError as error:
        return _verification_failure(error, endpoint, ca_bundle), None
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
        return (
            Outcome.failed(
                f"The TLS handshake with {endpoint.authority} failed ({describe_os_error(error)}); the server may not "
                "speak TLS on this port.",
                endpoint.scheme_field,
                f"Check the protocol and port of {endpoint.field}: https needs a TLS port.",
            ),
            None,
        )
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


def _verification_failure(error: ssl.SSLCertVerificationError, endpoint: Endpoint, ca_bundle: str | None) -> Outcome:
    reason = str(error.verify_message or error.reason or "verification failed")
    if error.verify_code == _HOSTNAME_MISMATCH or "mismatch" in reason.lower():
        return Outcome.failed(
            f"The certificate of {endpoint.authority} is not valid for the name {endpoint.host} ({reason}).",
            endpoint.field,
            f"Use in {endpoint.field} the host name the service's certificate was issued for.",
        )
    if error.verify_code == _CERT_HAS_EXPIRED:
        return Outcome.failed(
            f"The certificate of {endpoint.authority} has expired.",
            endpoint.field,
            "The service's operator must renew its certificate; check the host is the one you meant.",
        )
    checked = f"the runtime CA bundle {ca_bundle}" if ca_bundle else "the default CA bundle"
    return Outcome.failed(
        f"The certificate of {endpoint.authority} is not trusted ({reason}); it was checked against {checked}.",
        CA_BUNDLE_FIELD,
        "Add the CA that issued the server's certificate to the runtime's CA bundle.",
    )


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
