"""The runtime proxy step of Test Connection: ask the proxy for an endpoint and judge its answer.

For https the proxy is asked to open a tunnel (``CONNECT host:port``), for http it is sent an absolute-form ``HEAD``,
as ``requests`` does for each. Credentials go in ``Proxy-Authorization: Basic`` and appear in no message or log
line. A refusal of the credentials is reported as proxy authentication (field ``runtime.proxy.password``, or
``runtime.proxy.user`` when none were configured), whether the proxy says 407 as it should, or 401 with a Basic
challenge as some do. Not for the TCP connection to the proxy (``network``).
"""

from __future__ import annotations

import base64
from typing import Final

from connector.diagnostics.endpoint import Endpoint
from connector.diagnostics.http_head import HttpHead, head_request
from connector.diagnostics.report import Outcome
from connector.settings import ProxyPolicy

__all__ = ["PROXY_FIELD", "judge_proxy_answer", "proxy_request"]

PROXY_FIELD: Final = "runtime.proxy"
"""The prefix of the runtime proxy's fields (``runtime.proxy.host``, ``.port``, ``.user``, ``.password``)."""


def proxy_request(endpoint: Endpoint, policy: ProxyPolicy) -> str:
    """The request head asking the proxy for the endpoint, blank line included.

    :param endpoint: where the proxy should take us.
    :param policy: the proxy (its credentials, if any).
    :returns: ``CONNECT`` for https, an absolute-form ``HEAD`` for http. It holds the credentials: never log it.
    """
    if endpoint.scheme == "https":
        head = f"CONNECT {endpoint.authority} HTTP/1.1\r\nHost: {endpoint.authority}\r\n"
    else:
        head = head_request(endpoint, absolute=True)
    return head + _authorization(policy) + "\r\n"


def _authorization(policy: ProxyPolicy) -> str:
    if not policy.user:
        return ""
    password = policy.password.reveal() if policy.password else ""
    token = base64.b64encode(f"{policy.user}:{password}".encode()).decode("ascii")
    return f"Proxy-Authorization: Basic {token}\r\n"


def judge_proxy_answer(answer: HttpHead, endpoint: Endpoint, policy: ProxyPolicy) -> Outcome:
    """Decide what the proxy's answer means.

    :param answer: the proxy's answer to :func:`proxy_request`.
    :param endpoint: what was asked for.
    :param policy: the proxy.
    :returns: passed (tunnel open, or request forwarded), or failed naming the proxy field or the endpoint's.
    """
    proxy = f"{policy.host}:{policy.port}"
    status = answer.status
    # Some proxies refuse wrong credentials with 401 and a Basic challenge instead of 407 (tinyproxy before 1.11.2,
    # tinyproxy/tinyproxy#532); neither Dataverse nor Entra ever challenges with Basic.
    refused_as_401 = status == 401 and bool(policy.user) and answer.challenge.lower().startswith("basic")
    if status == 407 or refused_as_401:
        said = "407 Proxy Authentication Required" if status == 407 else "401 Unauthorized with a Basic challenge"
        if policy.user:
            return Outcome.failed(
                f"The runtime proxy {proxy} refused the user {policy.user!r} and its password ({said}).",
                f"{PROXY_FIELD}.password",
                "Correct the runtime's proxy user and password.",
            )
        return Outcome.failed(
            f"The runtime proxy {proxy} requires authentication ({said}), and no proxy user is set.",
            f"{PROXY_FIELD}.user",
            "Set the runtime's proxy user and password.",
        )
    if endpoint.scheme == "https" and status // 100 != 2:
        return Outcome.failed(
            f"The runtime proxy {proxy} refused to open a tunnel to {endpoint.authority} ({status} {answer.reason}).",
            endpoint.field if status >= 500 else f"{PROXY_FIELD}.host",
            "Check that the proxy may reach the host and port, and that the host is right.",
        )
    if endpoint.scheme == "http" and status >= 500:
        # Proxies answer 5xx when they cannot reach the host (tinyproxy: 500, most others: 502 or 504).
        return Outcome.failed(
            f"The runtime proxy {proxy} answered {status} {answer.reason} for {endpoint.authority}: it could not "
            "reach the host, or the host failed.",
            endpoint.field,
            f"Check {endpoint.field}, and that the proxy may reach that host.",
        )
    what = "opened a tunnel to" if endpoint.scheme == "https" else f"forwarded a request ({status}) to"
    return Outcome.passed(
        f"The runtime proxy {proxy} {what} {endpoint.authority}.", {"proxy": proxy, "proxy_status": str(status)}
    )
