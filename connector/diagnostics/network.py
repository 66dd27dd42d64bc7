"""Network checks of Test Connection: name resolution, TCP connect, the proxy, the TLS handshake and a first HTTP
answer, for one host the connection talks to (the token endpoint's, the Web API's).

The checks take the route the connection's requests take: through the runtime proxy when the connection honours it
and the host is not on the non-proxy list (an HTTP ``CONNECT`` tunnel for https, an absolute-form request for
http, as ``requests`` does), directly otherwise. Trust is the connection's: the runtime's CA bundle, else the same
bundle ``requests`` uses. Every step is bounded by the connection's time-outs; establishing the connection (TCP,
the proxy's answer to ``CONNECT``, the TLS handshake) by the connect time-out, the HTTP answer by the read time-out.

Each failure names the form field to fix (``connection.base_url``, ``oauth2.access_token_url``,
``runtime.ca_bundle``, ``runtime.proxy.password`` ...). Proxy credentials are sent in ``Proxy-Authorization`` and
appear in no message or log line. Not for token or Web API semantics: ``service`` checks those.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from connector.diagnostics.report import Outcome
from connector.settings import DEFAULT_TIMEOUT_MS, ConnectionSettings, Timeouts

__all__ = [
    "Endpoint",
    "EndpointProbe",
    "Resolver",
    "effective_timeouts",
]

_log = logging.getLogger(__name__)

Resolver = Callable[..., list[tuple[Any, ...]]]
"""``socket.getaddrinfo``'s signature; injectable so a test can decide what a name resolves to."""

_MAX_HEADER_BYTES: Final = 65_536
_PROXY_FIELD: Final = "runtime.proxy"


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


class EndpointProbe:
    """Runs the network checks for one endpoint, keeping the socket from one step to the next.

    Call the steps in order (:meth:`resolve`, :meth:`connect`, :meth:`tunnel` when :attr:`via_proxy`,
    :meth:`handshake` for https, :meth:`answer`), then :meth:`close`.

    :param endpoint: the host to check.
    :param settings: the connection's settings (time-outs, proxy, CA bundle).
    :param resolver: name resolution; ``socket.getaddrinfo`` (looked up when resolving) by default.
    """

    def __init__(
        self,
        endpoint: Endpoint,
        settings: ConnectionSettings,
        *,
        resolver: Resolver | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings
        self.connect_timeout, self.read_timeout = effective_timeouts(settings.timeouts)
        policy = settings.proxy
        self.via_proxy = policy.enabled and not policy.bypasses(endpoint.host)
        self.bypassed = policy.enabled and not self.via_proxy
        self._resolver = resolver
        self._addresses: list[tuple[Any, ...]] = []
        self._sock: socket.socket | None = None

    # -- what the checks are called ---------------------------------------------------------------------------

    @property
    def target_host(self) -> str:
        """The host the TCP connection goes to: the proxy's or the endpoint's."""
        return (self.settings.proxy.host or "") if self.via_proxy else self.endpoint.host

    @property
    def target_port(self) -> int:
        """The port the TCP connection goes to."""
        return self.settings.proxy.port if self.via_proxy else self.endpoint.port

    @property
    def route(self) -> str:
        """How requests to the endpoint travel, in words."""
        if self.via_proxy:
            return f"through the runtime proxy {self.settings.proxy.host}:{self.settings.proxy.port}"
        if self.bypassed:
            return "directly (the host matches the runtime proxy's non-proxy hosts)"
        return "directly"

    # -- steps ------------------------------------------------------------------------------------------------

    def resolve(self) -> Outcome:
        """Resolve the name the TCP connection goes to (the proxy's, when tunnelling).

        :returns: passed with the addresses, or failed naming the host field.
        """
        host, port = self.target_host, self.target_port
        try:
            resolve = self._resolver or socket.getaddrinfo
            self._addresses = resolve(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            reason = error.strerror if isinstance(error, socket.gaierror) and error.strerror else str(error)
            if self.via_proxy:
                return Outcome.failed(
                    f"The runtime proxy's host name {host} could not be resolved ({reason}).",
                    f"{_PROXY_FIELD}.host",
                    "Correct the runtime's proxy host, or check the runtime's DNS settings.",
                )
            return Outcome.failed(
                f"The {self.endpoint.role} host name {host} could not be resolved ({reason}).",
                self.endpoint.field,
                f"Check the host name in {self.endpoint.field} for typos; {self._host_hint()}",
            )
        addresses = sorted({str(info[4][0]) for info in self._addresses})
        via = " (the runtime proxy; it resolves the endpoint's name itself)" if self.via_proxy else ""
        return Outcome.passed(
            f"{host} resolves to {', '.join(addresses[:4])}{' ...' if len(addresses) > 4 else ''}{via}.",
            {"addresses": ", ".join(addresses), "route": self.route},
        )

    def connect(self) -> Outcome:
        """Open a TCP connection to the first address that accepts one, within the connect time-out.

        :returns: passed with the peer address, or failed (refused, unreachable, timed out).
        """
        last: OSError | None = None
        for family, kind, proto, _, address in self._addresses:
            sock = socket.socket(family, kind, proto)
            sock.settimeout(self.connect_timeout)
            try:
                sock.connect(address)
            except OSError as error:
                sock.close()
                last = error
                continue
            self._sock = sock
            return Outcome.passed(
                f"Connected to {self.target_host}:{self.target_port} ({address[0]}) {self.route}.",
                {"peer": f"{address[0]}:{address[1]}", "route": self.route},
            )
        return self._connect_failure(last)

    def tunnel(self) -> Outcome:
        """Ask the proxy for the endpoint: ``CONNECT`` for https, an absolute-form ``HEAD`` for http.

        :returns: passed, or failed with 407 reported as proxy authentication.
        """
        sock = self._require_socket()
        if self.endpoint.scheme == "https":
            request = f"CONNECT {self.endpoint.authority} HTTP/1.1\r\nHost: {self.endpoint.authority}\r\n"
            timeout = self.connect_timeout
        else:
            request = self._head_request(absolute=True)
            timeout = self.read_timeout
        request += self._proxy_authorization() + "\r\n"
        try:
            status, reason, challenge = self._exchange(sock, request.encode("latin-1"), timeout)
        except TimeoutError:
            return Outcome.failed(
                f"The runtime proxy {self.target_host}:{self.target_port} did not answer within {timeout:g} s.",
                f"{_PROXY_FIELD}.host",
                "Check that the runtime's proxy host and port name a working HTTP proxy.",
            )
        except (OSError, _NotHttpError) as error:
            return Outcome.failed(
                f"The runtime proxy {self.target_host}:{self.target_port} did not answer as an HTTP proxy "
                f"({_describe_os_error(error)}).",
                f"{_PROXY_FIELD}.port",
                "Check that the runtime's proxy host and port name an HTTP proxy, not another service.",
            )
        return self._proxy_outcome(status, reason, challenge)

    def handshake(self) -> Outcome:
        """Complete the TLS handshake and verify the certificate against the runtime's CA bundle.

        :returns: passed with the protocol and certificate facts, or failed naming the CA bundle, the host field
            or the protocol.
        """
        sock = self._require_socket()
        bundle = self.settings.ca_bundle
        try:
            context = _tls_context(bundle)
        except (OSError, ssl.SSLError) as error:
            return Outcome.failed(
                f"The runtime's CA bundle {bundle} could not be read ({_describe_os_error(error)}).",
                "runtime.ca_bundle",
                "Point the runtime's CA bundle at a readable PEM file of trusted CA certificates.",
            )
        sock.settimeout(self.connect_timeout)
        try:
            tls = context.wrap_socket(sock, server_hostname=self.endpoint.host)
        except ssl.SSLCertVerificationError as error:
            return self._verification_failure(error)
        except TimeoutError:
            return Outcome.failed(
                f"{self.endpoint.authority} accepted the connection but did not complete the TLS handshake within "
                f"the connect time-out of {self.connect_timeout:g} s.",
                self.endpoint.field,
                f"Check that {self.endpoint.field} points at the service's https port; if it is merely slow, raise "
                "connection.connect_timeout_ms.",
            )
        except (ssl.SSLError, OSError) as error:
            return Outcome.failed(
                f"The TLS handshake with {self.endpoint.authority} failed ({_describe_os_error(error)}); the server "
                "may not speak TLS on this port.",
                self._scheme_field(),
                f"Check the protocol and port of {self.endpoint.field}: https needs a TLS port.",
            )
        self._sock = tls
        return Outcome.passed(
            f"{tls.version()} with {self.endpoint.host}; the certificate is trusted "
            f"({'the runtime CA bundle' if bundle else 'the default CA bundle'}) and valid for the host.",
            _certificate_details(tls),
        )

    def answer(self) -> Outcome:
        """Send ``HEAD`` for the endpoint's path and wait for a status line within the read time-out.

        :returns: passed with the status, or failed (no answer in time, closed, not HTTP).
        """
        sock = self._require_socket()
        request = self._head_request(absolute=False) + "\r\n"
        try:
            status, reason, _ = self._exchange(sock, request.encode("latin-1"), self.read_timeout)
        except TimeoutError:
            return Outcome.failed(
                f"{self.endpoint.authority} accepted the connection but sent no answer within the read time-out of "
                f"{self.read_timeout:g} s.",
                self.endpoint.field,
                f"Check that {self.endpoint.field} points at the service; if the service is merely slow, raise "
                "connection.read_timeout_ms.",
            )
        except _NotHttpError as error:
            tls_hint = error.looks_like_tls and self.endpoint.scheme == "http"
            return Outcome.failed(
                f"{self.endpoint.authority} answered, but not with HTTP"
                f"{' (it speaks TLS: the URL should use https)' if tls_hint else ''}.",
                self._scheme_field() if tls_hint else self.endpoint.field,
                "Choose https." if tls_hint else f"Check the host and port in {self.endpoint.field}.",
            )
        except OSError as error:
            return Outcome.failed(
                f"{self.endpoint.authority} closed the connection without answering ({_describe_os_error(error)}).",
                self.endpoint.field,
                f"Check the host, port and protocol in {self.endpoint.field}.",
            )
        return Outcome.passed(
            f"{self.endpoint.authority} answered HTTP {status} {reason} {self.route}.".replace("  ", " "),
            {"status": str(status)},
        )

    def close(self) -> None:
        """Close the socket, which also ends a step still waiting on it."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    # -- helpers ----------------------------------------------------------------------------------------------

    def _require_socket(self) -> socket.socket:
        if self._sock is None:
            raise RuntimeError("network steps must run in order: there is no connection yet")
        return self._sock

    def _host_hint(self) -> str:
        if self.endpoint.field == "connection.base_url":
            return "it is the host you open the Dynamics 365 web app with (contoso.crm.dynamics.com)."
        return "for Microsoft Entra ID it is login.microsoftonline.com."

    def _scheme_field(self) -> str:
        return "connection.protocol" if self.endpoint.field == "connection.base_url" else self.endpoint.field

    def _connect_failure(self, error: OSError | None) -> Outcome:
        where = f"{self.target_host}:{self.target_port}"
        timed_out = isinstance(error, TimeoutError)
        refused = isinstance(error, ConnectionRefusedError)
        if timed_out:
            reason = f"no answer within the connect time-out of {self.connect_timeout:g} s"
        elif refused:
            reason = "connection refused: nothing listens on that port"
        else:
            reason = _describe_os_error(error) if error else "no address to connect to"
        if self.via_proxy:
            return Outcome.failed(
                f"Could not connect to the runtime proxy {where} ({reason}).",
                f"{_PROXY_FIELD}.port" if refused else f"{_PROXY_FIELD}.host",
                "Check the runtime's proxy host and port, and that the proxy is running.",
            )
        remedy = (
            f"Check the port in {self.endpoint.field} and that the service is running."
            if refused
            else f"Check {self.endpoint.field} and that a firewall lets this machine reach it"
            + ("; or raise connection.connect_timeout_ms if the network is merely slow." if timed_out else ".")
        )
        return Outcome.failed(
            f"Could not connect to the {self.endpoint.role} at {where} ({reason}).", self.endpoint.field, remedy
        )

    def _head_request(self, *, absolute: bool) -> str:
        target = f"{self.endpoint.scheme}://{self.endpoint.authority}{self.endpoint.path}" if absolute else None
        return (
            f"HEAD {target or self.endpoint.path} HTTP/1.1\r\nHost: {self.endpoint.authority}\r\n"
            "User-Agent: dynamics365-ce-connector (Test Connection)\r\nConnection: close\r\n"
        )

    def _proxy_authorization(self) -> str:
        policy = self.settings.proxy
        if not policy.user:
            return ""
        password = policy.password.reveal() if policy.password else ""
        token = base64.b64encode(f"{policy.user}:{password}".encode()).decode("ascii")
        return f"Proxy-Authorization: Basic {token}\r\n"

    def _proxy_outcome(self, status: int, reason: str, challenge: str) -> Outcome:
        proxy = f"{self.target_host}:{self.target_port}"
        user = self.settings.proxy.user
        # Some proxies refuse wrong credentials with 401 and a Basic challenge instead of 407 (tinyproxy before
        # 1.11.2, tinyproxy/tinyproxy#532); neither Dataverse nor Entra ever challenges with Basic.
        refused_as_401 = status == 401 and bool(user) and challenge.lower().startswith("basic")
        if status == 407 or refused_as_401:
            answer = "407 Proxy Authentication Required" if status == 407 else "401 Unauthorized with a Basic challenge"
            if user:
                return Outcome.failed(
                    f"The runtime proxy {proxy} refused the user {user!r} and its password ({answer}).",
                    f"{_PROXY_FIELD}.password",
                    "Correct the runtime's proxy user and password.",
                )
            return Outcome.failed(
                f"The runtime proxy {proxy} requires authentication (407 Proxy Authentication Required), and no "
                "proxy user is set.",
                f"{_PROXY_FIELD}.user",
                "Set the runtime's proxy user and password.",
            )
        if self.endpoint.scheme == "https" and status // 100 != 2:
            return Outcome.failed(
                f"The runtime proxy {proxy} refused to open a tunnel to {self.endpoint.authority} "
                f"({status} {reason}).",
                self.endpoint.field if status >= 500 else f"{_PROXY_FIELD}.host",
                "Check that the proxy may reach the host and port, and that the host is right.",
            )
        if self.endpoint.scheme == "http" and status >= 500:
            # Proxies answer 5xx when they cannot reach the host (tinyproxy: 500, most others: 502 or 504).
            return Outcome.failed(
                f"The runtime proxy {proxy} answered {status} {reason} for {self.endpoint.authority}: it could not "
                "reach the host, or the host failed.",
                self.endpoint.field,
                f"Check {self.endpoint.field}, and that the proxy may reach that host.",
            )
        what = "opened a tunnel to" if self.endpoint.scheme == "https" else f"forwarded a request ({status}) to"
        return Outcome.passed(
            f"The runtime proxy {proxy} {what} {self.endpoint.authority}.",
            {"proxy": proxy, "proxy_status": str(status)},
        )

    def _verification_failure(self, error: ssl.SSLCertVerificationError) -> Outcome:
        reason = error.verify_message or error.reason or "verification failed"
        code = error.verify_code
        if code == 62 or "hostname mismatch" in str(reason).lower() or "match" in str(reason).lower():
            return Outcome.failed(
                f"The certificate of {self.endpoint.authority} is not valid for the name {self.endpoint.host} "
                f"({reason}).",
                self.endpoint.field,
                f"Use in {self.endpoint.field} the host name the service's certificate was issued for.",
            )
        if code == 10:  # X509_V_ERR_CERT_HAS_EXPIRED
            return Outcome.failed(
                f"The certificate of {self.endpoint.authority} has expired.",
                self.endpoint.field,
                "The service's operator must renew its certificate; check the host is the one you meant.",
            )
        bundle = self.settings.ca_bundle
        return Outcome.failed(
            f"The certificate of {self.endpoint.authority} is not trusted ({reason}); it was checked against "
            f"{'the runtime CA bundle ' + bundle if bundle else 'the default CA bundle'}.",
            "runtime.ca_bundle",
            "Add the CA that issued the server's certificate to the runtime's CA bundle.",
        )

    def _exchange(self, sock: socket.socket, request: bytes, timeout: float) -> tuple[int, str, str]:
        """Send a request and read the answer's head: the status, the reason and any ``WWW-Authenticate``."""
        sock.settimeout(timeout)
        sock.sendall(request)
        received = b""
        while b"\r\n\r\n" not in received and len(received) < _MAX_HEADER_BYTES:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
            if not received.startswith(b"HTTP/"[: len(received)]):
                break
        return _status_line(received)


class _NotHttpError(Exception):
    """The peer answered something that is not an HTTP status line."""

    def __init__(self, received: bytes) -> None:
        super().__init__("the answer is not HTTP" if received else "the connection was closed without an answer")
        # A TLS record (alert or handshake) starts with 0x15 or 0x16 and the major version 3.
        self.looks_like_tls = len(received) >= 2 and received[0] in (0x15, 0x16) and received[1] == 0x03


def _status_line(received: bytes) -> tuple[int, str, str]:
    lines = received.split(b"\r\n\r\n", 1)[0].decode("latin-1", "replace").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise _NotHttpError(received)
    challenge = next(
        (line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("www-authenticate:")), ""
    )
    return int(parts[1]), parts[2] if len(parts) > 2 else "", challenge


def _tls_context(bundle: str | None) -> ssl.SSLContext:
    # The same trust the transport has: the runtime's bundle, else the bundle requests uses by default.
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return ssl.create_default_context(cafile=bundle or DEFAULT_CA_BUNDLE_PATH)


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


def _describe_os_error(error: BaseException) -> str:
    if isinstance(error, ssl.SSLError):
        return str(error.reason or error.strerror or type(error).__name__)
    if isinstance(error, OSError) and error.errno is not None:
        return error.strerror or errno.errorcode.get(error.errno, type(error).__name__)
    return str(error) or type(error).__name__
