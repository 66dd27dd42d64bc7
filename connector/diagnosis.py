"""What a refused or failed connection means and which field fixes it: the one diagnosis Test Connection and every
request share.

Test Connection (:mod:`connector.diagnostics`) meets these failures on raw sockets; ``authorize`` and the operations
meet them through ``requests`` (:mod:`connector.transport`). Both hand the facts they found to the functions here and
get the same :class:`Finding` (what happened, the field to fix, what to do), so a user reads one diagnosis wherever
the failure surfaced:

* the runtime proxy: credentials refused (``407``, or ``401`` to a tunnel or with a Basic challenge), a tunnel
  refused, the proxy unreachable or not a proxy;
* TLS: a certificate that is not trusted (``runtime.ca_bundle``), not valid for the host or expired (the URL's
  field), a port that does not speak TLS, an unreadable CA bundle;
* a ``401`` from the Web API: the token's audience (read from the token without verification, never shown) against
  the ``resource_id`` of the ``WWW-Authenticate`` challenge, the tenant of its ``authorization_uri``, and what to check
  when both match (application user, security role).

Not for talking to anything or for deciding what to retry: it reads facts it is given. It imports only the settings.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from connector.errors import ConfigError, FieldError
from connector.settings import ConnectionSettings, ProxyPolicy

__all__ = [
    "AUTHORIZE_FIELD",
    "CA_BUNDLE_FIELD",
    "PROXY_FIELD",
    "Finding",
    "ca_bundle_unreadable",
    "certificate_refused",
    "handshake_failed",
    "parse_bearer_challenge",
    "proxy_credentials_refused",
    "proxy_name_unresolved",
    "proxy_not_a_proxy",
    "proxy_unreachable",
    "token_claims",
    "tunnel_refused",
    "unauthorized",
]

PROXY_FIELD: Final = "runtime.proxy"
"""The prefix of the runtime proxy's fields (``runtime.proxy.host``, ``.port``, ``.user``, ``.password``)."""
CA_BUNDLE_FIELD: Final = "runtime.ca_bundle"
AUTHORIZE_FIELD: Final = "oauth2"
"""Where the user authorizes the connection (the OAuth 2.0 tab's Generate action): there is no single form field."""

HOSTNAME_MISMATCH: Final = 62  # X509_V_ERR_HOSTNAME_MISMATCH
CERT_HAS_EXPIRED: Final = 10  # X509_V_ERR_CERT_HAS_EXPIRED


@dataclass(frozen=True)
class Finding:
    """A diagnosis.

    :param message: what happened, one or two sentences, free of secrets.
    :param field: the settings field to fix.
    :param remediation: one sentence saying what to do.
    :param details: facts worth showing (the expected resource, the token's audience).
    """

    message: str
    field: str
    remediation: str
    # ``dataclasses.field``: the name ``field`` is this class's own attribute above.
    details: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def as_config_error(self) -> ConfigError:
        """:returns: the error a request raises for it: configuration, naming the field, saying what to do."""
        return ConfigError(
            [FieldError(self.field, f"{self.message} {self.remediation}")],
            summary="The connection's network set-up is wrong",
        )


# -- the runtime proxy ---------------------------------------------------------------------------------------------


def _where(policy: ProxyPolicy) -> str:
    return f"{policy.host}:{policy.port}"


def proxy_credentials_refused(status: int, challenge: str, policy: ProxyPolicy, *, tunnel: bool) -> Finding | None:
    """Read a proxy's refusal of its credentials.

    :param status: the proxy's answer.
    :param challenge: its ``WWW-Authenticate`` or ``Proxy-Authenticate`` value, or empty.
    :param policy: the proxy.
    :param tunnel: the answer is to ``CONNECT``, which only the proxy answers.
    :returns: the finding for a ``407``, or for a ``401`` that can only be the proxy's (to a tunnel, or with a Basic
        challenge while a proxy user is set: some proxies answer so, tinyproxy before 1.11.2 among them,
        tinyproxy/tinyproxy#532; neither Dataverse nor Entra ever challenges with Basic); ``None`` otherwise.
    """
    basic = challenge.strip().lower().startswith("basic")
    refused_as_401 = status == 401 and (tunnel or (bool(policy.user) and basic))
    if status != 407 and not refused_as_401:
        return None
    if status == 407:
        said = "407 Proxy Authentication Required"
    else:
        # A tunnel's refusal is read from the status alone (the transport never sees the head of a CONNECT answer).
        said = "401 Unauthorized with a Basic challenge" if basic and not tunnel else "401 Unauthorized"
    if policy.user:
        return Finding(
            f"The runtime proxy {_where(policy)} refused the user {policy.user!r} and its password ({said}).",
            f"{PROXY_FIELD}.password",
            "Correct the runtime's proxy user and password.",
        )
    return Finding(
        f"The runtime proxy {_where(policy)} requires authentication ({said}), and no proxy user is set.",
        f"{PROXY_FIELD}.user",
        "Set the runtime's proxy user and password.",
    )


def tunnel_refused(status: int, reason: str, authority: str, endpoint_field: str, policy: ProxyPolicy) -> Finding:
    """A proxy that would not open a tunnel for another reason than credentials.

    :param status: its answer to ``CONNECT``.
    :param reason: the reason phrase.
    :param authority: ``host:port`` asked for.
    :param endpoint_field: the field naming that host.
    :param policy: the proxy.
    :returns: a 5xx blames the endpoint (the proxy could not reach it), anything else the proxy host.
    """
    return Finding(
        f"The runtime proxy {_where(policy)} refused to open a tunnel to {authority} ({status} {reason}).".replace(
            " )", ")"
        ),
        endpoint_field if status >= 500 else f"{PROXY_FIELD}.host",
        "Check that the proxy may reach the host and port, and that the host is right.",
    )


def proxy_unreachable(policy: ProxyPolicy, reason: str, *, refused: bool) -> Finding:
    """:param reason: why the connection to the proxy failed, in a few words.
    :param refused: the proxy's port refused the connection (nothing listens there).
    :returns: the finding naming the proxy's port when refused, else its host.
    """
    return Finding(
        f"Could not connect to the runtime proxy {_where(policy)} ({reason}).",
        f"{PROXY_FIELD}.port" if refused else f"{PROXY_FIELD}.host",
        "Check the runtime's proxy host and port, and that the proxy is running.",
    )


def proxy_name_unresolved(policy: ProxyPolicy, reason: str) -> Finding:
    """:returns: the finding for a proxy host name that does not resolve."""
    return Finding(
        f"The runtime proxy's host name {policy.host} could not be resolved ({reason}).",
        f"{PROXY_FIELD}.host",
        "Correct the runtime's proxy host, or check the runtime's DNS settings.",
    )


def proxy_not_a_proxy(policy: ProxyPolicy, reason: str) -> Finding:
    """:returns: the finding for a proxy address whose answer is not an HTTP proxy's (another service's port)."""
    return Finding(
        f"The runtime proxy {_where(policy)} did not answer as an HTTP proxy ({reason}).",
        f"{PROXY_FIELD}.port",
        "Check that the runtime's proxy host and port name an HTTP proxy, not another service.",
    )


# -- TLS -----------------------------------------------------------------------------------------------------------


def certificate_refused(
    verify_code: int | None, reason: str, *, authority: str, host: str, endpoint_field: str, ca_bundle: str | None
) -> Finding:
    """A certificate the client would not accept.

    :param verify_code: OpenSSL's verification code (``ssl.SSLCertVerificationError.verify_code``).
    :param reason: its verification message.
    :param authority: ``host:port`` of the server.
    :param host: the name the certificate must be valid for.
    :param endpoint_field: the field naming the server's URL.
    :param ca_bundle: the runtime's CA bundle, or ``None`` for the default one.
    :returns: a name mismatch or an expired certificate blames the URL's field; any other refusal (an issuer that is
        not trusted) the runtime's CA bundle.
    """
    if verify_code == HOSTNAME_MISMATCH or "mismatch" in reason.lower():
        return Finding(
            f"The certificate of {authority} is not valid for the name {host} ({reason}).",
            endpoint_field,
            f"Use in {endpoint_field} the host name the service's certificate was issued for.",
        )
    if verify_code == CERT_HAS_EXPIRED:
        return Finding(
            f"The certificate of {authority} has expired.",
            endpoint_field,
            "The service's operator must renew its certificate; check the host is the one you meant.",
        )
    checked = f"the runtime CA bundle {ca_bundle}" if ca_bundle else "the default CA bundle"
    return Finding(
        f"The certificate of {authority} is not trusted ({reason}); it was checked against {checked}.",
        CA_BUNDLE_FIELD,
        "Add the CA that issued the server's certificate to the runtime's CA bundle.",
    )


def handshake_failed(authority: str, reason: str, endpoint_field: str, scheme_field: str) -> Finding:
    """:returns: the finding for a TLS handshake that failed without a certificate refusal: the port does not speak
    TLS (a plain ``http`` port), so the protocol or port is wrong.
    """
    return Finding(
        f"The TLS handshake with {authority} failed ({reason}); the server may not speak TLS on this port.",
        scheme_field,
        f"Check the protocol and port of {endpoint_field}: https needs a TLS port.",
    )


def ca_bundle_unreadable(ca_bundle: str | None, reason: str) -> Finding:
    """:returns: the finding for a runtime CA bundle that cannot be read."""
    return Finding(
        f"The runtime's CA bundle {ca_bundle} could not be read ({reason}).",
        CA_BUNDLE_FIELD,
        "Point the runtime's CA bundle at a readable PEM file of trusted CA certificates.",
    )


# -- the Web API's 401 ---------------------------------------------------------------------------------------------


def parse_bearer_challenge(header: str | None) -> dict[str, str]:
    """Read a ``WWW-Authenticate: Bearer k=v, k=v`` challenge (Dataverse's values are unquoted).

    :param header: the header value.
    :returns: the parameters by lower-case name; empty when there is no Bearer challenge.
    """
    if not header or not header.strip().lower().startswith("bearer"):
        return {}
    parameters: dict[str, str] = {}
    for part in header.strip()[len("bearer") :].split(","):
        name, separator, value = part.strip().partition("=")
        if separator:
            parameters[name.strip().lower()] = value.strip().strip('"')
    return parameters


def token_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT access token, read without verification, only to explain a refusal.

    :param token: the access token.
    :returns: the claims, or ``{}`` for an opaque token.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def unauthorized(challenge: str | None, audience: str, settings: ConnectionSettings) -> Finding:
    """Why the Web API refused a token (401), and which field fixes it.

    :param challenge: the answer's ``WWW-Authenticate`` value (``Bearer authorization_uri=…, resource_id=…``).
    :param audience: the ``aud`` claim of the token sent, or empty when unknown (an opaque token).
    :param settings: the connection's settings.
    :returns: a ``resource_id`` other than the token's audience blames the resource (or the scope); an authority in
        another tenant than the token URL's blames the token URL; otherwise the principal itself is refused, and the
        remedy says what to check in the environment.
    """
    oauth = settings.oauth
    parameters = parse_bearer_challenge(challenge)
    expected = parameters.get("resource_id", "")
    requested = oauth.resource or _scope_resource(oauth.scope) or ""
    facts = (("expected_resource", expected), ("token_audience", audience))
    details = {key: value for key, value in facts if value}
    resource_field = oauth.resource_field if oauth.resource or not oauth.scope else "oauth2.scope"
    shown = audience or requested
    if expected and shown and not _same_resource(shown, expected):
        return Finding(
            f"the Web API accepts tokens for {expected.rstrip('/')}, but the token is for {shown}.",
            resource_field,
            f"Set the resource to {expected.rstrip('/')} (the Web API's protocol and host)"
            + (" and Scope to that followed by /.default." if resource_field == "oauth2.scope" else "."),
            details,
        )
    authority = parameters.get("authorization_uri", "")
    if authority and _tenant_of(authority) and _tenant_of(authority) != _tenant_of(oauth.access_token_url):
        return Finding(
            f"the environment belongs to the tenant in {authority}, but the token came from {oauth.access_token_url}.",
            "oauth2.access_token_url",
            "Use the token URL of the environment's tenant.",
            details,
        )
    if oauth.grant_type == "client_credentials":
        return Finding(
            "the token names this resource, yet the application is not let in: it may have no application user in "
            "this environment, or the application may not be allowed to call Dataverse.",
            "oauth2.client_id",
            f"Check that the client id {oauth.client_id} is an application user of this environment (Power Platform "
            f"admin center) with a security role, and that the resource or scope is the API's origin "
            f"{settings.origin}.",
            details,
        )
    return Finding(
        "the token names this resource, yet the signed-in user is not let in: the user may not be a member of this "
        "environment, or the application may lack the Dynamics CRM user_impersonation permission.",
        AUTHORIZE_FIELD,
        f"Check that the user is enabled in this environment with a security role, that the app registration has "
        f"the delegated user_impersonation permission, and that the resource or scope is the API's origin "
        f"{settings.origin}; then authorize again.",
        details,
    )


def _same_resource(left: str, right: str) -> bool:
    return left.strip().rstrip("/").lower() == right.strip().rstrip("/").lower()


def _tenant_of(url: str) -> str:
    segments = [segment for segment in urlsplit(url).path.split("/") if segment]
    return segments[0].lower() if segments else ""


def _scope_resource(scope: str | None) -> str | None:
    for item in (scope or "").split():
        if "://" in item:
            parts = urlsplit(item)
            return f"{parts.scheme}://{parts.netloc}"
    return None
