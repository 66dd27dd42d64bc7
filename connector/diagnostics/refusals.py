"""Why the Web API refused a Test Connection request, and which field fixes it.

A 401 is explained by :func:`connector.diagnosis.unauthorized`, the diagnosis every request's persistent 401 gets
too: a ``resource_id`` other than the token's audience means the token was requested for another resource (field: the
``resource`` parameter or the scope); an authority in another tenant means the token URL names the wrong tenant. A 403
is read from Dataverse's error code: not a member of the organization, an application the environment blocks, or a
missing privilege. The access token is decoded (never verified, never shown) only to compare its audience.

Not for the token service's errors: ``connector.auth.entra_errors`` maps those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from connector.diagnosis import AUTHORIZE_FIELD, parse_bearer_challenge, token_claims, unauthorized
from connector.diagnostics.report import Outcome
from connector.settings import ConnectionSettings

if TYPE_CHECKING:
    import requests

__all__ = ["AUTHORIZE_FIELD", "explain_refusal", "parse_bearer_challenge", "status_text", "token_claims"]

_NOT_A_MEMBER: Final = "0x80072560"
_APP_BLOCKED: Final = "0x80095ffc"


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
    app_only = oauth.grant_type in {"client_credentials", "managed_identity"}
    principal_field = "oauth2.client_id" if app_only else AUTHORIZE_FIELD
    if oauth.managed_identity is not None:
        principal_field = "oauth2.identity" if oauth.managed_identity.identity == "system" else "oauth2.identity_id"
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
    audience = str(token_claims(token).get("aud", "")) if token else ""
    finding = unauthorized(response.headers.get("WWW-Authenticate"), audience, settings)
    return Outcome.failed(
        f"{what} was refused (401): {finding.message}", finding.field, finding.remediation, finding.details
    )


def _dataverse_error(response: requests.Response) -> tuple[str | None, str]:
    from connector.dataverse.odata.answers import describe_error

    code, message = describe_error(response)
    return (code.lower() if code else None), message
