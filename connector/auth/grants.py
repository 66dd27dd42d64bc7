"""The OAuth 2.0 grants as requests: the authorization URL (PKCE S256 + state), the code exchange, client credentials
(client secret in the body or HTTP Basic, or a JWT assertion) and the refresh.

Each token request is one form POST through the connection's :class:`~connector.transport.Transport` (time-outs,
proxy, CA bundle, retries of 429/5xx), built here directly rather than with requests-oauthlib: that library logs token
responses at DEBUG, needs process-wide environment switches for loopback ``http``, and does not form-urlencode HTTP
Basic credentials (``docs/decisions.md``). The access token parameters are sent as given after the grant's own
parameters; an exact duplicate of one the connector sends (a second ``client_id``) is sent once. Entra's v2
endpoints (``/oauth2/v2.0/``) never receive ``resource``, neither at authorization nor at code redemption or
refresh: they refuse it and take the resource inside Scope. A JWT client
assertion is signed anew for every attempt (a new ``jti`` and ``iat``): the transport makes the form with a factory
per attempt, so a retried request never carries an assertion the server has already seen.

Not for: deciding when to request a token (``tokens``) or reading the answer (``token_response``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, quote_plus, urlencode, urlsplit, urlunsplit

import requests

from connector.auth.assertion import ASSERTION_TYPE, ClientAssertionSigner
from connector.auth.entra_errors import authorization_callback_error, authorization_required
from connector.auth.federated import FederatedTokenFile
from connector.auth.token_response import read_token_response
from connector.errors import AuthError, ConfigError, ConnectorError, TransientError
from connector.oauth_settings import (
    AUTHORIZATION_URL_FIELD,
    CALLBACK_URL_FIELD,
    CLIENT_SECRET_FIELD,
    FEDERATED_TOKEN_FILE_FIELD,
    GRANT_TYPE_FIELD,
    TOKEN_URL_FIELD,
    NameValue,
    OAuthSettings,
    entra_endpoint_version,
)
from connector.results import AuthorizationCallback, AuthorizationStart, TokenSet

__all__ = [
    "TokenTransport",
    "basic_credentials",
    "build_authorization_url",
    "new_pkce_pair",
    "redeem_authorization_code",
    "refresh_token_set",
    "request_client_credentials",
    "start_authorization",
]

_log = logging.getLogger(__name__)

_VERIFIER_BYTES: Final = 64  # 86 base64url characters; RFC 7636 §4.1 allows 43 to 128
_STATE_BYTES: Final = 32


class TokenTransport(Protocol):
    """The part of :class:`~connector.transport.Transport` the grants use."""

    def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data_factory: Callable[[], Any] | None = None,
        authenticate: bool = True,
        idempotent: bool | None = None,
    ) -> requests.Response:
        """Send one token request and return the answer; ``data_factory`` makes the form for each attempt."""
        ...


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_pkce_pair() -> tuple[str, str]:
    """:returns: a random PKCE ``code_verifier`` and its S256 ``code_challenge`` (RFC 7636 §4.2)."""
    verifier = _b64url(secrets.token_bytes(_VERIFIER_BYTES))
    return verifier, _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def basic_credentials(client_id: str, client_secret: str) -> str:
    """Build an HTTP Basic ``Authorization`` value for a client (RFC 6749 §2.3.1).

    :param client_id: the client id.
    :param client_secret: the client secret.
    :returns: ``Basic base64(urlencode(id):urlencode(secret))``: both are form-urlencoded first, so a secret with
        ``+``, ``%`` or ``:`` reaches the server intact.
    """
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


def _require_callback_url(settings: OAuthSettings) -> str:
    if not settings.callback_url:
        raise ConfigError.single(
            CALLBACK_URL_FIELD, "is not set by the host: the authorization-code grant needs the host's OAuth callback"
        )
    return settings.callback_url


def _require_grant(settings: OAuthSettings, grant: str, what: str) -> None:
    if settings.grant_type != grant:
        raise ConfigError.single(
            GRANT_TYPE_FIELD, f"is {settings.grant_type!r}; {what} needs the {grant.replace('_', ' ')} grant"
        )


def build_authorization_url(settings: OAuthSettings, *, state: str, code_challenge: str) -> str:
    """Build the URL a person opens to sign in and consent.

    :param settings: the OAuth settings (authorization code grant).
    :param state: the random state value.
    :param code_challenge: the PKCE S256 challenge.
    :returns: the authorization URL (given, or derived from the token URL) with ``client_id``, ``response_type``,
        ``redirect_uri``, ``state``, the PKCE challenge, ``scope`` when set, and every authorization parameter;
        a query already in the configured URL is kept.
    :raises ConfigError: when the grant is not authorization code or the host gave no callback URL.
    """
    _require_grant(settings, "authorization_code", "building an authorization URL")
    if not settings.authorization_url:
        raise ConfigError.single(AUTHORIZATION_URL_FIELD, "is required (it cannot be derived from the token URL)")
    params: list[tuple[str, str]] = [
        ("client_id", settings.client_id),
        ("response_type", "code"),
        ("redirect_uri", _require_callback_url(settings)),
        ("state", state),
        ("code_challenge", code_challenge),
        ("code_challenge_method", "S256"),
    ]
    if settings.scope:
        params.append(("scope", settings.scope))
    _extend(params, _without_resource_for_v2(settings.authorization_parameters, settings.authorization_url))
    parts = urlsplit(settings.authorization_url)
    query = parse_qsl(parts.query, keep_blank_values=True) + params
    return urlunsplit(parts._replace(query=urlencode(query)))


def start_authorization(settings: OAuthSettings) -> AuthorizationStart:
    """Begin the authorization-code grant.

    :param settings: the OAuth settings.
    :returns: the URL to open, and the ``state`` and PKCE ``code_verifier`` the host keeps for the callback.
    :raises ConfigError: as :func:`build_authorization_url`.
    """
    state = _b64url(secrets.token_bytes(_STATE_BYTES))
    verifier, challenge = new_pkce_pair()
    url = build_authorization_url(settings, state=state, code_challenge=challenge)
    _log.debug("authorization started at %s", urlsplit(url)._replace(query="").geturl())
    return AuthorizationStart(
        url=url, state=state, code_verifier=verifier, redirect_uri=_require_callback_url(settings)
    )


def _extend(params: list[tuple[str, str]], extra: tuple[NameValue, ...]) -> None:
    """Append parameters as given; one equal to a parameter already present is not sent twice."""
    for parameter in extra:
        if (parameter.name, parameter.value) in params:
            continue
        if any(name == parameter.name for name, _ in params):
            # The settings parser refuses such conflicts; this guards settings built by other means.
            raise ConfigError.single(
                f"parameter {parameter.name}", "conflicts with the value the connector sends for the same name"
            )
        params.append((parameter.name, parameter.value))


class _Request:
    """One token request in the making: its form, headers, and the secrets to keep out of error texts."""

    def __init__(self, grant: str) -> None:
        self.grant = grant
        self.form: list[tuple[str, str]] = [("grant_type", grant)]
        self.headers: dict[str, str] = {"Accept": "application/json"}
        self.secrets: list[str] = []
        self._assertion: Callable[[], str] | None = None
        self._assertion_at = -1

    def add_secret(self, name: str, value: str) -> None:
        self.form.append((name, value))
        self.secrets.append(value)

    def add_assertion(self, signer: ClientAssertionSigner) -> None:
        """Reserve the ``client_assertion`` field: :meth:`form_for_attempt` signs a new one for every attempt."""
        self.add_assertion_source(lambda: signer.sign().reveal())

    def add_assertion_source(self, source: Callable[[], str]) -> None:
        """Reserve the ``client_assertion`` field: :meth:`form_for_attempt` asks ``source`` for every attempt."""
        self._assertion = source
        self._assertion_at = len(self.form)
        self.form.append(("client_assertion", ""))
        self.form_for_attempt()  # a key that cannot sign fails here, before anything is sent

    def form_for_attempt(self) -> list[tuple[str, str]]:
        """:returns: the form to send once; with a newly signed assertion (new ``jti`` and ``iat``) each time."""
        if self._assertion is None:
            return self.form
        assertion = self._assertion()
        self.secrets.append(assertion)
        form = list(self.form)
        form[self._assertion_at] = ("client_assertion", assertion)
        return form


def _authenticate_client(request: _Request, settings: OAuthSettings, signer: ClientAssertionSigner | None) -> None:
    if settings.grant_type == "client_credentials" and settings.client_assertion_type == "federated_token_file":
        if not settings.federated_token_file:
            raise ConfigError.single(FEDERATED_TOKEN_FILE_FIELD, "is required for workload identity federation")
        request.form.append(("client_id", settings.client_id))
        request.form.append(("client_assertion_type", ASSERTION_TYPE))
        request.add_assertion_source(FederatedTokenFile(settings.federated_token_file).read)
    elif settings.grant_type == "client_credentials" and settings.client_assertion_type == "jwt":
        if signer is None:
            raise ConfigError.single("oauth2.jwt", "is required for the JWT client assertion")
        request.form.append(("client_id", settings.client_id))
        request.form.append(("client_assertion_type", ASSERTION_TYPE))
        request.add_assertion(signer)
    elif settings.client_secret and settings.client_authentication == "client_secret_basic":
        secret = settings.client_secret.reveal()
        request.headers["Authorization"] = basic_credentials(settings.client_id, secret)
        request.secrets.append(secret)
    elif settings.client_secret:
        request.form.append(("client_id", settings.client_id))
        request.add_secret("client_secret", settings.client_secret.reveal())
    elif settings.grant_type == "client_credentials":
        raise ConfigError.single(CLIENT_SECRET_FIELD, "is required for client credentials with a client secret")
    else:
        request.form.append(("client_id", settings.client_id))  # a public client: identified, not authenticated


def _without_resource_for_v2(parameters: tuple[NameValue, ...], url: str | None) -> tuple[NameValue, ...]:
    """Leave ``resource`` out of what goes to an Entra v2 endpoint: v2 refuses it (AADSTS901002) and names the
    resource inside Scope, so MSAL never sends it. ``connect`` warns about a configured one.
    """
    if entra_endpoint_version(url) != "v2":
        return parameters
    return tuple(parameter for parameter in parameters if parameter.name != "resource")


def _finish(request: _Request, settings: OAuthSettings) -> None:
    if settings.scope:
        request.form.append(("scope", settings.scope))
    token_parameters = _without_resource_for_v2(settings.access_token_parameters, settings.access_token_url)
    v1_code = settings.grant_type == "authorization_code" and settings.entra_version != "v2"
    if v1_code and not any(p.name == "resource" for p in token_parameters):
        # Entra v1 wants the resource again when redeeming and refreshing; it lives in the authorization parameters.
        resource = next((p for p in settings.authorization_parameters if p.name == "resource"), None)
        token_parameters = (*token_parameters, *((resource,) if resource else ()))
    _extend(request.form, token_parameters)


def _post(
    request: _Request,
    settings: OAuthSettings,
    transport: TokenTransport,
    *,
    clock: Callable[[], float],
    idempotent: bool,
    previous: TokenSet | None = None,
) -> TokenSet:
    url = settings.access_token_url
    _log.debug("token request: grant %s to %s", request.grant, urlsplit(url)._replace(query="").geturl())
    sent_at = clock()
    try:
        response = transport.send(
            "POST",
            url,
            data_factory=request.form_for_attempt,
            headers=request.headers,
            authenticate=False,
            idempotent=idempotent,
        )
    except TransientError as error:
        raise TransientError(
            f"The token service at {url} could not be reached: {error.user_message}",
            internal_message=error.internal_message,
            field=TOKEN_URL_FIELD,
            retry_after=error.retry_after,
        ) from None
    try:
        return read_token_response(
            response,
            settings,
            grant=request.grant,
            sent_at=sent_at,
            received_at=clock(),
            previous=previous,
            secrets=request.secrets,
        )
    except ConnectorError as error:
        _log.debug("token request for grant %s failed: %s", request.grant, error.internal_message)
        raise
    finally:
        response.close()


def request_client_credentials(
    settings: OAuthSettings,
    transport: TokenTransport,
    *,
    clock: Callable[[], float],
    signer: ClientAssertionSigner | None = None,
) -> TokenSet:
    """Get an access token for the application itself.

    :param settings: the OAuth settings (client credentials grant).
    :param transport: sends the request.
    :param clock: epoch seconds (expiry is counted from the moment of sending).
    :param signer: signs the client assertion, for the JWT assertion type.
    :returns: the token set (no refresh token: this grant never issues one).
    :raises AuthError: when the identity provider refuses (the field to fix is named).
    :raises TransientError: when it is unreachable or unavailable.
    :raises ConfigError: for a bad key or a URL that is not a token endpoint.
    """
    _require_grant(settings, "client_credentials", "a client credentials token")
    request = _Request("client_credentials")
    _authenticate_client(request, settings, signer)
    _finish(request, settings)
    # Asking again only issues another token; every attempt carries an assertion signed for it (a one-time jti).
    return _post(request, settings, transport, clock=clock, idempotent=True)


def redeem_authorization_code(
    settings: OAuthSettings,
    callback: AuthorizationCallback,
    transport: TokenTransport,
    *,
    clock: Callable[[], float],
) -> TokenSet:
    """Complete the authorization-code grant with the callback's parameters.

    :param settings: the OAuth settings (authorization code grant).
    :param callback: the callback's query parameters, and the state and PKCE verifier kept from the start.
    :param transport: sends the request.
    :param clock: epoch seconds.
    :returns: the token set (access token, refresh token, expiry, granted scope).
    :raises AuthError: for an ``error=`` callback, a state that does not match, a missing code, or a refusal.
    :raises TransientError: when the token service is unreachable.
    """
    _require_grant(settings, "authorization_code", "redeeming an authorization code")
    params = callback.params
    if params.get("error"):
        raise authorization_callback_error(params, settings)
    returned_state = params.get("state", "")
    if not callback.state or not hmac.compare_digest(returned_state.encode(), callback.state.encode()):
        raise AuthError(
            "The authorization callback's state does not match the one this authorization started with: the "
            "callback may be forged or belong to another attempt. Start the authorization again.",
            code="state_mismatch",
        )
    code = params.get("code")
    if not code:
        raise AuthError("The authorization callback carries no code. Start the authorization again.")
    request = _Request("authorization_code")
    request.add_secret("code", code)
    request.form.append(("redirect_uri", _require_callback_url(settings)))
    request.add_secret("code_verifier", callback.code_verifier)
    _authenticate_client(request, settings, None)
    _finish(request, settings)
    # A code is single-use: never re-send after an ambiguous failure.
    return _post(request, settings, transport, clock=clock, idempotent=False)


def refresh_token_set(
    settings: OAuthSettings,
    token_set: TokenSet,
    transport: TokenTransport,
    *,
    clock: Callable[[], float],
) -> TokenSet:
    """Exchange a refresh token for a new token set.

    :param settings: the OAuth settings (authorization code grant).
    :param token_set: the current token set, with its refresh token.
    :param transport: sends the request.
    :param clock: epoch seconds.
    :returns: the new token set; it keeps the old refresh token when the server did not rotate it.
    :raises AuthError: with code ``authorization_required`` when there is no refresh token or the server refuses it
        (``invalid_grant``): the refresh token must not be used again.
    :raises TransientError: when the token service is unreachable.
    """
    _require_grant(settings, "authorization_code", "refreshing tokens")
    if not token_set.refresh_token:
        raise authorization_required("the stored tokens have no refresh token")
    request = _Request("refresh_token")
    request.add_secret("refresh_token", token_set.refresh_token)
    _authenticate_client(request, settings, None)
    _finish(request, settings)
    # A rotated refresh token is single-use; re-sending one the server may have redeemed would revoke the grant.
    return _post(request, settings, transport, clock=clock, idempotent=False, previous=token_set)
