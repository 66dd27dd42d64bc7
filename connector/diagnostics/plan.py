"""The order of Test Connection's checks for one connection, and their time budgets.

1. the settings (they validated, since a connection exists; remaining warnings are shown);
2. the API root, shown, with a warning for ``http``;
3. the network, for the token endpoint's host and then the Web API's (one set of checks when they share a host):
   name resolution, TCP connect, the proxy when honoured, TLS for https, a first HTTP answer;
4. the token, with the configured grant;
5. the API version (before ``WhoAmI``: a function cannot be called under a version that does not exist, and a 404
   there is better explained as a version problem);
6. ``WhoAmI()``, with the user, business unit and organization ids;
7. optionally, read access to table definitions.

Every check gets a budget derived from the connection's time-outs (an indefinite time-out counts as the runtime
default), and the whole run a deadline that is the sum of them, so the test ends even when a server hangs.
Not for the checks themselves (``network``, ``service``) or for running them (``report``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from connector.diagnostics.endpoint import Endpoint, effective_timeouts
from connector.diagnostics.network import EndpointProbe, Resolver
from connector.diagnostics.report import CheckSpec, Deadline, Outcome, run_checks
from connector.diagnostics.service import ServiceProbe
from connector.results import Connection, TestReport
from connector.settings import ConnectionSettings

__all__ = ["run_test_connection"]

_SLACK_S: Final = 1.0
"""Added to every budget: the socket time-out fires first, and its message is the better one."""


def run_test_connection(
    connection: Connection[ConnectionSettings],
    *,
    resolver: Resolver | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TestReport:
    """Run every check for a connection.

    :param connection: a connection of this connector.
    :param resolver: name resolution; ``socket.getaddrinfo`` by default.
    :param clock: monotonic seconds, for durations and the deadline.
    :returns: the report; expected failures are in it, never raised.
    """
    settings = connection.settings
    probes = [EndpointProbe(endpoint, settings, resolver=resolver) for endpoint in _endpoints(settings)]
    service = ServiceProbe(settings, connection.context)
    connect_s, read_s = effective_timeouts(settings.timeouts)
    round_trip = connect_s + read_s + _SLACK_S
    specs = [
        CheckSpec("settings", "Settings are valid", lambda: _settings_outcome(connection), _SLACK_S),
        CheckSpec("api_root", "API root", lambda: _api_root_outcome(settings), _SLACK_S),
    ]
    for prefix, probe in zip(_prefixes(probes), probes, strict=True):
        specs += _network_specs(prefix, probe, connect_s + _SLACK_S, read_s + _SLACK_S)
    specs += [
        CheckSpec("token", "Access token", service.token, 2 * round_trip, on_timeout=_token_timeout(settings)),
        CheckSpec("api_version", "API version exists", service.api_version, 4 * round_trip),
        CheckSpec("whoami", "WhoAmI", service.whoami, 3 * round_trip),
        CheckSpec("metadata", "Table definitions readable (optional)", service.metadata, 3 * round_trip),
    ]
    deadline = Deadline(sum(spec.budget for spec in specs), clock)
    try:
        return run_checks(connection.connector_id, specs, deadline, clock=clock)
    finally:
        for probe in probes:
            probe.close()
        service.close()


def _endpoints(settings: ConnectionSettings) -> list[Endpoint]:
    if settings.oauth.managed_identity is not None:
        token = Endpoint("managed identity endpoint", settings.oauth.access_token_url, "oauth2.identity_endpoint")
    else:
        token = Endpoint("token endpoint", settings.oauth.access_token_url, "oauth2.access_token_url")
    api = Endpoint("Web API", settings.api_root, "connection.base_url")
    if token.address_key == api.address_key:
        return [Endpoint("token endpoint and Web API", settings.api_root, "connection.base_url")]
    return [token, api]


def _prefixes(probes: list[EndpointProbe]) -> list[str]:
    if len(probes) == 1:
        return ["host"]
    return ["token_host", "api_host"]


def _network_specs(prefix: str, probe: EndpointProbe, connect_budget: float, read_budget: float) -> list[CheckSpec]:
    endpoint = probe.endpoint
    where = f"{probe.target_host}:{probe.target_port}"
    specs = [
        CheckSpec(
            f"{prefix}.dns", f"Name resolution: {probe.target_host}", probe.resolve, connect_budget,
            on_timeout=Outcome.failed(
                f"Resolving {probe.target_host} did not finish within {connect_budget:g} s.",
                "runtime.proxy.host" if probe.via_proxy else endpoint.field,
                "Check the runtime's DNS settings and the host name.",
            ),
        ),
        CheckSpec(f"{prefix}.tcp", f"TCP connect: {where}", probe.connect, connect_budget),
    ]  # fmt: skip
    if probe.via_proxy:
        budget = connect_budget if endpoint.scheme == "https" else read_budget
        specs.append(CheckSpec(f"{prefix}.proxy", f"Proxy to {endpoint.authority}", probe.tunnel, budget))
    if endpoint.scheme == "https":
        specs.append(CheckSpec(f"{prefix}.tls", f"TLS: {endpoint.host}", probe.handshake, connect_budget))
    if not (probe.via_proxy and endpoint.scheme == "http"):
        # Through a proxy, plain http already got its answer in the proxy step.
        specs.append(CheckSpec(f"{prefix}.http", f"HTTP answer: {endpoint.authority}", probe.answer, read_budget))
    return specs


def _settings_outcome(connection: Connection) -> Outcome:
    remarks = [item for item in connection.diagnostics if item.field != "connection.protocol"]
    if not remarks:
        return Outcome.passed("The settings are valid.")
    return Outcome.warning(
        "The settings are valid, with remarks: " + "; ".join(f"{item.field}: {item.message}" for item in remarks),
        remarks[0].field,
        "Review the fields named in the remarks.",
    )


def _api_root_outcome(settings: ConnectionSettings) -> Outcome:
    details = {"api_root": settings.api_root}
    if settings.protocol == "http":
        return Outcome.warning(
            f"API root: {settings.api_root}. It uses http: tokens and data travel unencrypted.",
            "connection.protocol",
            "Choose https under Protocol for every real environment.",
            details,
        )
    return Outcome.passed(f"API root: {settings.api_root}", details)


def _token_timeout(settings: ConnectionSettings) -> Outcome:
    return Outcome.failed(
        f"The token service at {settings.oauth.access_token_url} did not answer in time.",
        "oauth2.access_token_url",
        "Check the token URL; if it is right, the token service is slow or unreachable: try again later.",
    )
