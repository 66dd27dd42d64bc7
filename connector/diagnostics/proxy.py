"""The runtime proxy step of Test Connection: ask the proxy for an endpoint and judge its answer.

For https the proxy is asked to open a tunnel (``CONNECT host:port``), for http it is sent an absolute-form ``HEAD``,
as ``requests`` does for each. Credentials go in ``Proxy-Authorization: Basic`` and appear in no message or log
line. A refusal of the credentials is reported as proxy authentication (field ``runtime.proxy.password``, or
``runtime.proxy.user`` when none were configured), whether the proxy says 407 as it should, or 401 with a Basic
challenge as some do: :mod:`connector.diagnosis` reads the refusal, exactly as for every request of an operation.
Not for the TCP connection to the proxy (``network``).
"""

from __future__ import annotations

import base64

from connector.diagnosis import PROXY_FIELD, proxy_credentials_refused, tunnel_refused
from connector.diagnostics.endpoint import Endpoint
from connector.diagnostics.http_head import HttpHead, head_request
from connector.diagnostics.report import Outcome
from connector.settings import ProxyPolicy

__all__ = ["PROXY_FIELD", "judge_proxy_answer", "proxy_request"]


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
    """Decide what the proxy's answer means (the refusals with :mod:`connector.diagnosis`, as every request does).

    :param answer: the proxy's answer to :func:`proxy_request`.
    :param endpoint: what was asked for.
    :param policy: the proxy.
    :returns: passed (tunnel open, or request forwarded), or failed naming the proxy field or the endpoint's.
    """
    proxy = f"{policy.host}:{policy.port}"
    status = answer.status
    tunnel = endpoint.scheme == "https"
    refusal = proxy_credentials_refused(status, answer.challenge, policy, tunnel=tunnel)
    if refusal is None and tunnel and status // 100 != 2:
        refusal = tunnel_refused(status, answer.reason, endpoint.authority, endpoint.field, policy)
    if refusal is not None:
        return Outcome.failed(refusal.message, refusal.field, refusal.remediation)
    if endpoint.scheme == "http" and status >= 500:
        # Proxies answer 5xx when they cannot reach the host (tinyproxy: 500, most others: 502 or 504).
        return Outcome.failed(
            f"The runtime proxy {proxy} answered {status} {answer.reason} for {endpoint.authority}: it could not "
            "reach the host, or the host failed.",
            endpoint.field,
            f"Check {endpoint.field}, and that the proxy may reach that host.",
        )
    what = "opened a tunnel to" if tunnel else f"forwarded a request ({status}) to"
    return Outcome.passed(
        f"The runtime proxy {proxy} {what} {endpoint.authority}.", {"proxy": proxy, "proxy_status": str(status)}
    )
