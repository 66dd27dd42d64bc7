"""A refused JWT client assertion names the setting that caused it, where the server's answer allows (issue 12,
item 11): Entra's time window with its times (clock ahead or behind), the audience, the ``jti`` (absent or replayed),
an EC key for Entra; and for a server that says only ``invalid_client``, the clock offset from its ``Date`` or the one
setting changed from what Entra documents.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.auth.entra_errors import token_endpoint_error
from connector.oauth_settings import OAuthSettings
from tests.support.auth import jwt_oauth, secret_oauth, settings_for


def entra(code: int, text: str, error: str = "invalid_client") -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 6bad8289\r\nCorrelation ID: 63b8bb61",
        "error_codes": [code],
    }


GENERIC = {"error": "invalid_client", "error_description": "client authentication failed"}


def jwt(algorithm: str = "PS256", **fields: Any) -> OAuthSettings:
    return settings_for(jwt_oauth(algorithm, jwt=fields)).oauth


def refused(body: dict[str, Any], settings: OAuthSettings, skew: float | None = None) -> tuple[str | None, str]:
    error = token_endpoint_error(body, settings, status=401, grant="client_credentials", clock_skew=skew)
    return error.field, error.user_message


def window(now: str, start: str, end: str) -> dict[str, Any]:
    return entra(
        700024,
        f"Client assertion is not within its valid time range. Current time: {now}, assertion valid from {start}, "
        f"expiry time of assertion {end}. Review the documentation at "
        "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    )


def test_a_clock_ahead_of_entra_is_named_from_the_times_it_quotes() -> None:
    body = window("2024-10-02T22:05:03.6755165Z", "2024-10-02T22:07:03.0000000Z", "2024-10-02T22:12:03.0000000Z")
    field, message = refused(body, jwt())
    assert field == "oauth2.jwt.expiration_seconds"
    assert "starts 119 s after the token service's current time" in message
    assert "clock is ahead" in message
    assert "AADSTS700024" in message


def test_an_assertion_expired_on_arrival_says_the_clock_is_behind() -> None:
    body = window("2024-10-02T22:05:03.6755165Z", "1970-01-01T00:00:00.0000000Z", "2024-10-02T21:30:53.0000000Z")
    field, message = refused(body, jwt())
    assert field == "oauth2.jwt.expiration_seconds"
    assert "expired 2051 s before it arrived" in message


def test_a_time_window_refusal_without_times_names_the_window() -> None:
    field, message = refused(entra(700024, "Client assertion is not within its valid time range."), jwt(), 0.0)
    assert field == "oauth2.jwt.expiration_seconds"
    assert "+0 s off" in message


@pytest.mark.parametrize(
    ("body", "settings", "field", "words"),
    [
        pytest.param(
            entra(50027, "Invalid JWT token. The audience 'https://x/oauth2/token' is not a token endpoint."),
            jwt(audience="https://login.microsoftonline.com/other/oauth2/token"),
            "oauth2.jwt.audience",
            "Leave the audience blank",
            id="audience override, 50027",
        ),
        pytest.param(
            entra(50027, "Invalid JWT token. The audience is not valid."),
            jwt(),
            "oauth2.jwt.audience",
            "check the tenant",
            id="default audience refused",
        ),
        pytest.param(
            entra(700212, "No matching federated identity record found for presented assertion audience."),
            jwt(audience="api://AzureADTokenExchange"),
            "oauth2.jwt.audience",
            "'api://AzureADTokenExchange'",
            id="700212",
        ),
        pytest.param(
            entra(5002741, "Number of audience values in the provided client credential exceed maximum allowed."),
            jwt(audience="https://a https://b"),
            "oauth2.jwt.audience",
            "Leave the audience blank",
            id="5002741",
        ),
        pytest.param(
            entra(50027, "Invalid JWT token. The 'jti' claim is missing."),
            jwt(jti="NONE"),
            "oauth2.jwt.jti",
            "choose UUID",
            id="jti NONE",
        ),
        pytest.param(
            entra(50027, "Invalid JWT token. The client assertion with jti 'abc' was already used."),
            jwt(),
            "oauth2.jwt.jti",
            "a replay",
            id="replayed jti",
        ),
        pytest.param(
            entra(700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]"),
            jwt("ES256"),
            "oauth2.jwt.signature_algorithm",
            "only RSA certificates",
            id="EC key refused by Entra",
        ),
        pytest.param(
            entra(700027, "Client assertion contains an invalid signature. [Reason - The key was not found.]"),
            jwt("PS256"),
            "oauth2.jwt.signature_key",
            "upload the certificate",
            id="RSA key not registered",
        ),
        pytest.param(
            entra(50027, "Invalid JWT token. Token format not valid."),
            jwt(),
            "oauth2.jwt.signature_key",
            "could not accept",
            id="malformed assertion",
        ),
    ],
)
def test_entra_refusals_name_the_assertion_setting(
    body: dict[str, Any], settings: OAuthSettings, field: str, words: str
) -> None:
    named, message = refused(body, settings)
    assert named == field
    assert words in message


@pytest.mark.parametrize(
    ("settings", "skew", "field", "words"),
    [
        pytest.param(jwt(), 40.0, "oauth2.jwt.expiration_seconds", "+40 s ahead", id="clock 40 s ahead"),
        pytest.param(jwt(), -40.0, "oauth2.jwt.signature_key", "refused", id="clock 40 s behind: not the cause"),
        pytest.param(jwt(), 5.0, "oauth2.jwt.signature_key", "refused", id="clock close enough"),
        pytest.param(jwt(), 3600.0, "oauth2.jwt.expiration_seconds", "+3600 s off", id="clock an hour off"),
        pytest.param(jwt(jti="NONE"), None, "oauth2.jwt.jti", "carries no jti", id="jti NONE"),
        pytest.param(
            jwt(audience="https://idp.example/other"), 0.0, "oauth2.jwt.audience", "leave it blank", id="audience"
        ),
        pytest.param(
            jwt(jti="NONE", audience="https://idp.example/other"),
            None,
            "oauth2.jwt.signature_key",
            "check oauth2.jwt.jti, oauth2.jwt.audience, then the signature key",
            id="two suspects",
        ),
    ],
)
def test_a_silent_refusal_names_the_likely_setting(
    settings: OAuthSettings, skew: float | None, field: str, words: str
) -> None:
    named, message = refused(GENERIC, settings, skew)
    assert named == field
    assert words in message


def test_other_credentials_are_not_read_as_assertions() -> None:
    settings = settings_for(secret_oauth()).oauth
    assert refused(GENERIC, settings, 40.0)[0] == "oauth2.client_secret"
