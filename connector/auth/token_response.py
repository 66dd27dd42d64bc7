"""Reading a token endpoint's HTTP response: a token set, or the error that says what to fix.

Accepts both Entra dialects and plain OAuth 2.0: v2 numbers (``"expires_in": 3599``), v1 strings
(``"expires_in": "3599"``, ``"expires_on": "1388452167"``), and servers without Entra's extras (oidc-provider). The ID
token is never kept: the access token is what the Web API receives. A refresh response without a new refresh token
keeps the one it replaced (RFC 6749 §6). An answer that is not JSON (a login page, a proxy's error page) becomes a
configuration error naming the access token URL, or a transient error for a 5xx/429; its body is never quoted.

Not for: sending the request (``grants``) or mapping OAuth error codes to fields (``entra_errors``).
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from connector.auth.entra_errors import token_endpoint_error
from connector.errors import AuthError, ConfigError, ConnectorError, TransientError
from connector.excerpts import CODE_LIMIT, excerpt
from connector.oauth_settings import TOKEN_URL_FIELD, OAuthSettings
from connector.results import TokenSet
from connector.transport import parse_retry_after

__all__ = ["clock_skew", "read_token_response"]

_log = logging.getLogger(__name__)


def clock_skew(response: requests.Response, now: float) -> float | None:
    """:returns: how many seconds ``now`` is ahead of the server's ``Date`` header, or ``None`` without one."""
    header = response.headers.get("Date")
    if not header:
        return None
    try:
        return now - email.utils.parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError):
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _expires_at(body: Mapping[str, Any], sent_at: float) -> float | None:
    # Measured from when the request was sent, not received: the token cannot outlive what the server granted.
    expires_in = _number(body.get("expires_in"))
    if expires_in is not None:
        return sent_at + expires_in
    return _number(body.get("expires_on"))


def _json_body(response: requests.Response) -> Mapping[str, Any] | None:
    content_type = response.headers.get("Content-Type", "").lower()
    if "json" not in content_type and not response.content.lstrip().startswith(b"{"):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


def _not_a_token_response(
    response: requests.Response, settings: OAuthSettings, why: str, received_at: float
) -> ConnectorError:
    url = settings.access_token_url
    status = response.status_code
    if status >= 500 or status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), received_at)
        return TransientError(
            f"The token service at {url} answered HTTP {status}; try again later",
            status=status,
            field=TOKEN_URL_FIELD,
            retry_after=retry_after,
        )
    kind = response.headers.get("Content-Type", "no content type").split(";")[0].strip() or "no content type"
    kind = excerpt(kind, limit=CODE_LIMIT, what="the token answer's content type")
    error = ConfigError.single(
        TOKEN_URL_FIELD, f"{url!r} answered HTTP {status} with {kind} {why}: is it the token endpoint?"
    )
    error.status = status
    return error


def read_token_response(
    response: requests.Response,
    settings: OAuthSettings,
    *,
    grant: str,
    sent_at: float,
    received_at: float,
    previous: TokenSet | None = None,
    secrets: Iterable[str] = (),
) -> TokenSet:
    """Read a token endpoint's answer.

    :param response: the final response (after the transport's retries).
    :param settings: the OAuth settings (for messages and fields).
    :param grant: the request's ``grant_type``.
    :param sent_at: epoch seconds when the request was sent (expiry is counted from it).
    :param received_at: epoch seconds when the answer arrived (to compare clocks with the server's ``Date``).
    :param previous: the token set a refresh replaces (its refresh token and scope are kept when not re-issued).
    :param secrets: values to scrub from the server's error text.
    :returns: the new token set.
    :raises AuthError: when the server refused (field named).
    :raises TransientError: when the server is unavailable.
    :raises ConfigError: when the URL does not answer like a token endpoint.
    """
    body = _json_body(response)
    if body is None:
        raise _not_a_token_response(response, settings, "instead of JSON", received_at)
    if response.status_code >= 400 or "error" in body:
        if "error" not in body:
            raise _not_a_token_response(response, settings, "and no OAuth error", received_at)
        error = token_endpoint_error(
            body,
            settings,
            status=response.status_code,
            grant=grant,
            clock_skew=clock_skew(response, received_at),
            secrets=secrets,
        )
        if isinstance(error, TransientError) and error.retry_after is None:
            # A throttled or unavailable token service says when to come back; the host learns it from the error.
            error.retry_after = parse_retry_after(response.headers.get("Retry-After"), received_at)
        raise error
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise _not_a_token_response(response, settings, "without an access_token", received_at)
    token_type = str(body.get("token_type") or "Bearer")
    if token_type.lower() != "bearer":
        raise AuthError(
            f"The token service issued a {token_type!r} token; the Web API takes Bearer tokens only",
            field=TOKEN_URL_FIELD,
        )
    refresh_token = body.get("refresh_token")
    scope = body.get("scope")
    token_set = TokenSet(
        access_token=access_token,
        token_type="Bearer",  # noqa: S106 - a token type name, not a secret
        expires_at=_expires_at(body, sent_at),
        refresh_token=str(refresh_token) if refresh_token else (previous.refresh_token if previous else None),
        scope=str(scope) if scope else (previous.scope if previous else None),
    )
    _log.debug(
        "token response for grant %s: expires in %s s, refresh token %s",
        grant,
        f"{token_set.expires_at - sent_at:.0f}" if token_set.expires_at is not None else "an unknown number of",
        "rotated" if refresh_token and previous else ("issued" if refresh_token else "not issued"),
    )
    return token_set
