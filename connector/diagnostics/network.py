"""Network checks of Test Connection for one host the connection talks to: name resolution, TCP connect, the proxy,
the TLS handshake and a first HTTP answer.

The checks take the route the connection's requests take: through the runtime proxy when the connection honours it
and the host is not on the non-proxy list, directly otherwise. Every step is bounded by the connection's time-outs:
establishing the connection (TCP, the proxy's answer to ``CONNECT``, the TLS handshake) by the connect time-out, as
``urllib3`` counts it, and the HTTP answer by the read time-out. Each failure names the form field to fix
(``connection.base_url``, ``oauth2.access_token_url``, ``runtime.proxy.host`` ...).

:class:`EndpointProbe` keeps the socket from one step to the next; the proxy and TLS steps themselves live in
``proxy`` and ``tls``; a proxy's failures are worded by :mod:`connector.diagnosis`, as for every request. Not for
token or Web API semantics: ``service`` checks those.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any

from connector.diagnosis import (
    PROXY_FIELD,
    Finding,
    proxy_name_unresolved,
    proxy_not_a_proxy,
    proxy_unreachable,
)
from connector.diagnostics.endpoint import Endpoint, effective_timeouts
from connector.diagnostics.http_head import NotHttpError, describe_os_error, exchange_head, head_request
from connector.diagnostics.proxy import judge_proxy_answer, proxy_request
from connector.diagnostics.report import Outcome
from connector.diagnostics.tls import handshake
from connector.settings import ConnectionSettings

__all__ = ["EndpointProbe", "Resolver"]

Resolver = Callable[..., list[tuple[Any, ...]]]
"""``socket.getaddrinfo``'s signature; injectable so a test can decide what a name resolves to."""


class EndpointProbe:
    """Runs the network checks for one endpoint, keeping the socket from one step to the next.

    Call the steps in order (:meth:`resolve`, :meth:`connect`, :meth:`tunnel` when :attr:`via_proxy`,
    :meth:`handshake` for https, :meth:`answer`), then :meth:`close`.

    :param endpoint: the host to check.
    :param settings: the connection's settings (time-outs, proxy, CA bundle).
    :param resolver: name resolution; ``socket.getaddrinfo`` (looked up when resolving) by default.
    """

    def __init__(self, endpoint: Endpoint, settings: ConnectionSettings, *, resolver: Resolver | None = None) -> None:
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
                return _failed(proxy_name_unresolved(self.settings.proxy, reason))
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
        """Ask the proxy for the endpoint (see :mod:`connector.diagnostics.proxy`).

        :returns: passed, or failed with a refusal of credentials reported as proxy authentication.
        """
        sock = self._require_socket()
        timeout = self.connect_timeout if self.endpoint.scheme == "https" else self.read_timeout
        where = f"{self.target_host}:{self.target_port}"
        try:
            answer = exchange_head(sock, proxy_request(self.endpoint, self.settings.proxy), timeout)
        except TimeoutError:
            return Outcome.failed(
                f"The runtime proxy {where} did not answer within {timeout:g} s.",
                f"{PROXY_FIELD}.host",
                "Check that the runtime's proxy host and port name a working HTTP proxy.",
            )
        except (OSError, NotHttpError) as error:
            return _failed(proxy_not_a_proxy(self.settings.proxy, describe_os_error(error)))
        return judge_proxy_answer(answer, self.endpoint, self.settings.proxy)

    def handshake(self) -> Outcome:
        """Complete the TLS handshake and verify the certificate (see :mod:`connector.diagnostics.tls`).

        :returns: passed with the protocol and certificate facts, or failed naming the field to fix.
        """
        outcome, tls = handshake(self._require_socket(), self.endpoint, self.settings.ca_bundle, self.connect_timeout)
        if tls is not None:
            self._sock = tls
        return outcome

    def answer(self) -> Outcome:
        """Send ``HEAD`` for the endpoint's path and wait for a status line within the read time-out.

        :returns: passed with the status, or failed (no answer in time, closed, not HTTP).
        """
        sock = self._require_socket()
        endpoint = self.endpoint
        try:
            answer = exchange_head(sock, head_request(endpoint, absolute=False) + "\r\n", self.read_timeout)
        except TimeoutError:
            return Outcome.failed(
                f"{endpoint.authority} accepted the connection but sent no answer within the read time-out of "
                f"{self.read_timeout:g} s.",
                endpoint.field,
                f"Check that {endpoint.field} points at the service; if the service is merely slow, raise "
                "connection.read_timeout_ms.",
            )
        except NotHttpError as error:
            tls_hint = error.looks_like_tls and endpoint.scheme == "http"
            return Outcome.failed(
                f"{endpoint.authority} answered, but not with HTTP"
                f"{' (it speaks TLS: the URL should use https)' if tls_hint else ''}.",
                endpoint.scheme_field if tls_hint else endpoint.field,
                "Choose https." if tls_hint else f"Check the host and port in {endpoint.field}.",
            )
        except OSError as error:
            return Outcome.failed(
                f"{endpoint.authority} closed the connection without answering ({describe_os_error(error)}).",
                endpoint.field,
                f"Check the host, port and protocol in {endpoint.field}.",
            )
        return Outcome.passed(
            f"{endpoint.authority} answered HTTP {answer.status} {answer.reason} {self.route}.".replace("  ", " "),
            {"status": str(answer.status)},
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

    def _connect_failure(self, error: OSError | None) -> Outcome:
        where = f"{self.target_host}:{self.target_port}"
        timed_out = isinstance(error, TimeoutError)
        refused = isinstance(error, ConnectionRefusedError)
        if timed_out:
            reason = f"no answer within the connect time-out of {self.connect_timeout:g} s"
        elif refused:
            reason = "connection refused: nothing listens on that port"
        else:
            reason = describe_os_error(error) if error else "no address to connect to"
        if self.via_proxy:
            return _failed(proxy_unreachable(self.settings.proxy, reason, refused=refused))
        field = self.endpoint.field
        if refused:
            remedy = f"Check the port in {field} and that the service is running."
        elif timed_out:
            remedy = (
                f"Check {field} and that a firewall lets this machine reach it; or raise "
                "connection.connect_timeout_ms if the network is merely slow."
            )
        else:
            remedy = f"Check {field} and that a firewall lets this machine reach it."
        return Outcome.failed(f"Could not connect to the {self.endpoint.role} at {where} ({reason}).", field, remedy)


def _failed(finding: Finding) -> Outcome:
    return Outcome.failed(finding.message, finding.field, finding.remediation)
