"""Managed identity: an access token from the platform's identity endpoint, with no credential stored anywhere.

Two endpoints, one request each: Azure's instance metadata service (IMDS: ``GET <endpoint>?api-version=2018-02-01
&resource=...`` with ``Metadata: true``; a user-assigned identity by ``client_id``, ``object_id`` or ``msi_res_id``)
and App Service's (``GET $IDENTITY_ENDPOINT?api-version=2019-08-01&resource=...`` with ``X-IDENTITY-HEADER``; by
``client_id``, ``principal_id`` or ``mi_res_id``). The answer is read as both dialects write it (``expires_in`` and
``expires_on`` as strings or numbers). Refusals name the field to fix: an identity that is not assigned names the
identity (or its id), an unknown resource the resource, a wrong App Service secret the identity header.

Not for: deciding when to ask (``tokens``, which caches and renews these tokens as it does client credentials).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from connector.auth.grants import TokenTransport
from connector.errors import AuthError, ConfigError, TransientError
from connector.excerpts import excerpt
from connector.oauth_settings import (
    MANAGED_IDENTITY_ENDPOINT_FIELD,
    MANAGED_IDENTITY_FIELD,
    MANAGED_IDENTITY_HEADER_FIELD,
    MANAGED_IDENTITY_ID_FIELD,
    MANAGED_IDENTITY_RESOURCE_FIELD,
    ManagedIdentitySettings,
    OAuthSettings,
)
from connector.results import TokenSet

__all__ = ["managed_identity_url", "request_managed_identity_token"]

_log = logging.getLogger(__name__)

_IMDS_VERSION: Final = "2018-02-01"
_APP_SERVICE_VERSION: Final = "2019-08-01"
_ID_PARAMETERS: Final = {
    "imds": {"client_id": "client_id", "object_id": "object_id", "resource_id": "msi_res_id"},
    "app_service": {"client_id": "client_id", "object_id": "principal_id", "resource_id": "mi_res_id"},
}


def managed_identity_url(managed: ManagedIdentitySettings) -> str:
    """:returns: the endpoint with ``api-version``, ``resource`` and the user-assigned identity's id in the query."""
    version = _IMDS_VERSION if managed.endpoint_type == "imds" else _APP_SERVICE_VERSION
    query: list[tuple[str, str]] = [("api-version", version), ("resource", managed.resource)]
    if managed.identity != "system" and managed.identity_id:
        query.append((_ID_PARAMETERS[managed.endpoint_type][managed.identity], managed.identity_id))
    parts = urlsplit(managed.endpoint)
    existing = parts.query + "&" if parts.query else ""
    return urlunsplit(parts._replace(query=existing + urlencode(query)))


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None


def _identity_field(managed: ManagedIdentitySettings) -> str:
    return MANAGED_IDENTITY_FIELD if managed.identity == "system" else MANAGED_IDENTITY_ID_FIELD


def _refusal(response: requests.Response, managed: ManagedIdentitySettings, body: Mapping[str, Any]) -> AuthError:
    description = str(body.get("error_description") or body.get("message") or body.get("error") or "")
    said = excerpt(description) if description else f"HTTP {response.status_code}"
    status = response.status_code
    if "identity not found" in description.lower() or "no managed identity" in description.lower():
        if managed.identity == "system":
            message = (
                f"The managed identity ({MANAGED_IDENTITY_FIELD}) is system-assigned, but this machine has no "
                f"system-assigned identity ({said}): turn it on for the VM or app, or choose a user-assigned one"
            )
        else:
            message = (
                f"The user-assigned identity {managed.identity_id!r} ({MANAGED_IDENTITY_ID_FIELD}, by "
                f"{managed.identity}) is not assigned to this machine ({said}): assign it, or correct the id"
            )
        return AuthError(message, field=_identity_field(managed), status=status, code="identity_not_found")
    if body.get("error") in {"invalid_resource", "invalid_target"} or "AADSTS500011" in description:
        return AuthError(
            f"The resource {managed.resource!r} ({MANAGED_IDENTITY_RESOURCE_FIELD}) is not one the identity "
            f"endpoint issues tokens for ({said}): use the Web API's protocol and host",
            field=MANAGED_IDENTITY_RESOURCE_FIELD,
            status=status,
        )
    if managed.endpoint_type == "app_service" and status in {401, 403}:
        return AuthError(
            f"The App Service identity endpoint refused the identity header ({MANAGED_IDENTITY_HEADER_FIELD}): "
            f"{said}. Leave it blank to use IDENTITY_HEADER",
            field=MANAGED_IDENTITY_HEADER_FIELD,
            status=status,
        )
    return AuthError(
        f"The managed identity endpoint {managed.endpoint} ({MANAGED_IDENTITY_ENDPOINT_FIELD}) refused the request: "
        f"{said}",
        field=MANAGED_IDENTITY_ENDPOINT_FIELD,
        status=status,
    )


def _read(response: requests.Response, managed: ManagedIdentitySettings, sent_at: float) -> TokenSet:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(
            f"The managed identity endpoint {managed.endpoint} is unavailable (HTTP {response.status_code}).",
            field=MANAGED_IDENTITY_ENDPOINT_FIELD,
            status=response.status_code,
        )
    if not isinstance(body, dict):
        raise ConfigError.single(
            MANAGED_IDENTITY_ENDPOINT_FIELD,
            f"answered HTTP {response.status_code} without a JSON body: it is not a managed identity endpoint",
        )
    if response.status_code != 200:
        raise _refusal(response, managed, body)
    access_token = body.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise ConfigError.single(MANAGED_IDENTITY_ENDPOINT_FIELD, "answered without an access token")
    expires_in = _number(body.get("expires_in"))
    expires_on = _number(body.get("expires_on"))
    expires_at = sent_at + expires_in if expires_in is not None else expires_on
    return TokenSet(
        access_token=access_token, token_type=str(body.get("token_type") or "Bearer"), expires_at=expires_at
    )


def request_managed_identity_token(
    settings: OAuthSettings, transport: TokenTransport, *, clock: Callable[[], float]
) -> TokenSet:
    """Ask the managed identity endpoint for an access token.

    :param settings: the OAuth settings (managed identity).
    :param transport: sends the request (time-outs, retries of 429/5xx); no proxy environment is involved.
    :param clock: epoch seconds.
    :returns: the token set (no refresh token: a new token is asked for instead).
    :raises AuthError: when the endpoint refuses (the field to fix is named).
    :raises TransientError: when it is unreachable or unavailable (naming the endpoint).
    :raises ConfigError: when the answer is not a managed identity endpoint's.
    """
    managed = settings.managed_identity
    if managed is None:
        raise ConfigError.single(MANAGED_IDENTITY_FIELD, "is required for the managed identity sign-in method")
    headers = {"Accept": "application/json"}
    if managed.endpoint_type == "imds":
        headers["Metadata"] = "true"
    elif managed.identity_header is not None:
        headers["X-IDENTITY-HEADER"] = managed.identity_header.reveal()
    _log.debug("managed identity token request (%s) to %s", managed.endpoint_type, managed.endpoint)
    sent_at = clock()
    try:
        response = transport.send(
            "GET", managed_identity_url(managed), headers=headers, authenticate=False, idempotent=True
        )
    except TransientError as error:
        raise TransientError(
            f"The managed identity endpoint {managed.endpoint} could not be reached: {error.user_message}",
            internal_message=error.internal_message,
            field=MANAGED_IDENTITY_ENDPOINT_FIELD,
            retry_after=error.retry_after,
        ) from None
    try:
        return _read(response, managed, sent_at)
    finally:
        response.close()
