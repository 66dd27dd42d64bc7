"""Why the Web API refused a Test Connection request, and which field fixes it.

A 401 is read from its ``WWW-Authenticate: Bearer authorization_uri=…, resource_id=…`` challenge: a ``resource_id``
other than the token's audience means the token was requested for another resource (field: the ``resource``
parameter or the scope); an authority in another tenant means the token URL names the wrong tenant. A 403 is read
from Dataverse's error code: not a member of the organization, an application the environment blocks, or a missing
privilege. The access token is decoded (never verified, never shown) only to compare its audience.

Not for the token service's errors: ``connector.auth.entra_errors`` maps those.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from connector.diagnostics.report import Outcome
from connector.settings import ConnectionSettings

if TYPE_CHECKING:
    import requests

__all__ = ["AUTHORIZE_FIELD", "explain_refusal", "parse_bearer_challenge", "status_text", "token_claims"]

AUTHORIZE_FIELD: Final = "oauth2"
"""Where the user authorizes the connection (the OAuth 2.0 tab's Generate action): there is no single form field."""

_NOT_A_MEMBER: Final = "0x80072560"
_APP_BLOCKED: Final = "0x80095ffc"


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


def status_text(response: requests.Response) -> str:
    """:returns: ``403 Forbidden (0x80072560: <message>)``, or the status and reason when the body says nothing."""
    code, message = _dataverse_error(response)
    text = f"{response.status_code} {response.reason or ''}".strip()
    return f"{text} ({code}: {message})" if code else text


def explain_refusal(response: requests.Response, what: str, settings: ConnectionSettings, token: str | None) -> Outcome:
    """Turn a Web API error answer into a failure naming the field to fix.

    :param response: the answer (status 400 or more).
    :param what: what was attempted, for the message (``WhoAmI``).
    :param settings: the connection's settings.
    :param token: the access token that was sent, to compare its audience on a 401.
    :returns: a failed outcome.
    """
    status = response.status_code
    if status == 401:
        return _unauthorized(response, what, settings, token)
    code, message = _dataverse_error(response)
    oauth = settings.oauth
    app_only = oauth.grant_type == "client_credentials"
    principal_field = "oauth2.client_id" if app_only else AUTHORIZE_FIELD
    if status == 403 and code == _NOT_A_MEMBER:
        return Outcome.failed(
            f"{what} was refused (403): the principal is not a member of the organization ({message}).",
            principal_field,
            "Add an application user for this client id in the environment (Power Platform admin center) and give "
            "it a security role."
            if app_only
            else "Authorize as a user who is a member of the environment, or add this user to it.",
        )
    if status == 403 and code == _APP_BLOCKED:
        return Outcome.failed(
            f"{what} was refused (403): the environment blocks this application ({message}).",
            "oauth2.client_id",
            "Ask the environment's administrator to allow the application, or use an allowed one.",
        )
    if status == 403:
        return Outcome.failed(
            f"{what} was refused (403): the principal lacks a privilege ({message}).",
            principal_field,
            "Give the principal a security role with the missing privilege.",
        )
    if status == 404:
        return Outcome.failed(
            f"{what} was not found (404 at {settings.api_root}): the API version or path is wrong.",
            "connection.version",
            "Use a version the service offers (see the API version check) and /api/data/ as the path.",
        )
    return Outcome.failed(
        f"{what} failed: the service answered {status_text(response)}.",
        "connection.base_url",
        "If the base URL is right, the service is busy or failing: try again later.",
    )


def _unauthorized(response: requests.Response, what: str, settings: ConnectionSettings, token: str | None) -> Outcome:
    oauth = settings.oauth
    challenge = parse_bearer_challenge(response.headers.get("WWW-Authenticate"))
    expected = challenge.get("resource_id", "")
    audience = str(token_claims(token).get("aud", "")) if token else ""
    requested = oauth.resource or _scope_resource(oauth.scope) or ""
    facts = (("expected_resource", expected), ("token_audience", audience))
    details = {key: value for key, value in facts if value}
    field = oauth.resource_field if oauth.resource or not oauth.scope else "oauth2.scope"
    shown = audience or requested
    if expected and shown and not _same_resource(shown, expected):
        return Outcome.failed(
            f"{what} was refused (401): the Web API accepts tokens for {expected.rstrip('/')}, but the token is for "
            f"{shown}.",
            field,
            f"Set the resource to {expected.rstrip('/')} (the Web API's protocol and host)"
            + (" and Scope to that followed by /.default." if field == "oauth2.scope" else "."),
            details,
        )
    authority = challenge.get("authorization_uri", "")
    if authority and _tenant_of(authority) and _tenant_of(authority) != _tenant_of(oauth.access_token_url):
        return Outcome.failed(
            f"{what} was refused (401): the environment belongs to the tenant in {authority}, but the token came "
            f"from {oauth.access_token_url}.",
            "oauth2.access_token_url",
            "Use the token URL of the environment's tenant.",
            details,
        )
    return Outcome.failed(
        f"{what} was refused (401) although the token names this resource; the application may not be allowed to "
        "call Dataverse.",
        "oauth2.client_id",
        "Check the app registration's API permissions and that an application user exists for it.",
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


def _dataverse_error(response: requests.Response) -> tuple[str | None, str]:
    from connector.dataverse.odata.answers import describe_error

    code, message = describe_error(response)
    return (code.lower() if code else None), message
