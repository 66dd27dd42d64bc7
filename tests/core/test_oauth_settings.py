"""The OAuth 2.0 tab: derived authorization URL, JWT defaults, reserved claims, loopback http, conditional fields."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connector.context import RuntimeContext
from connector.errors import ConfigError
from connector.oauth_settings import (
    ENTRA_V2_URL_PATTERN,
    derive_authorization_url,
    entra_endpoint_version,
    is_loopback_url,
)
from connector.resources import load_schema
from connector.settings import parse_settings
from tests.support.auth import key_material
from tests.support.examples import CANARY_SECRET, CLIENT_SECRET_SETTINGS


def with_oauth(**oauth: Any) -> dict[str, Any]:
    settings = copy.deepcopy(CLIENT_SECRET_SETTINGS)
    settings["oauth2"] = oauth
    return settings


AUTH_CODE = {
    "grant_type": "authorization_code",
    "client_id": "app",
    "client_secret": CANARY_SECRET,
    "access_token_url": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token",
    "authorization_parameters": [{"name": "resource", "value": "https://contoso.crm.dynamics.com"}],
}

JWT: dict[str, Any] = {
    "grant_type": "client_credentials",
    "client_assertion_type": "jwt",
    "client_id": "app-id",
    "access_token_url": "https://login.microsoftonline.com/t/oauth2/v2.0/token",
    "scope": "https://contoso.crm.dynamics.com/.default",
    "jwt": {
        "signature_key": {
            "format": "pem",
            "private_key": key_material().key_pem,
            "certificate": key_material().certificate_pem,
        }
    },
}


@pytest.mark.parametrize(
    ("token_url", "expected"),
    [
        ("https://login.microsoftonline.com/t/oauth2/token", "https://login.microsoftonline.com/t/oauth2/authorize"),
        (
            "https://login.microsoftonline.com/t/oauth2/v2.0/token",
            "https://login.microsoftonline.com/t/oauth2/v2.0/authorize",
        ),
        ("http://127.0.0.1:5000/t/oauth2/token?x=1", "http://127.0.0.1:5000/t/oauth2/authorize"),
        ("https://idp.example/oauth/access", None),
    ],
)
def test_derive_authorization_url(token_url: str, expected: str | None) -> None:
    assert derive_authorization_url(token_url) == expected


def test_authorization_url_derived_or_given() -> None:
    parsed = parse_settings(with_oauth(**AUTH_CODE), RuntimeContext(callback_url="https://host/cb"))
    assert (
        parsed.oauth.authorization_url == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/authorize"
    )
    assert parsed.oauth.resource == "https://contoso.crm.dynamics.com"
    assert parsed.oauth.callback_url == "https://host/cb"
    given = with_oauth(**AUTH_CODE, authorization_url="https://idp.example/authorize")
    assert parse_settings(given, RuntimeContext()).oauth.authorization_url == "https://idp.example/authorize"


def test_authorization_url_required_when_not_derivable() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(
            with_oauth(**{**AUTH_CODE, "access_token_url": "https://idp.example/oauth/access"}), RuntimeContext()
        )
    assert caught.value.fields == ["oauth2.authorization_url"]


def test_resource_parameter_is_required_for_authorization_code() -> None:
    settings = with_oauth(**{**AUTH_CODE, "authorization_parameters": [{"name": "resource", "value": ""}]})
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert caught.value.fields == ["oauth2.authorization_parameters"]


@pytest.mark.parametrize(
    ("url", "version"),
    [
        ("https://login.microsoftonline.com/t/oauth2/token", "v1"),
        ("https://login.microsoftonline.com/t/oauth2/authorize", "v1"),
        ("https://login.microsoftonline.com/t/oauth2/v2.0/token", "v2"),
        ("https://login.microsoftonline.us/t/oauth2/v2.0/authorize?p=x", "v2"),
        ("http://127.0.0.1:8080/oauth2/v2.0/token", "v2"),
        ("https://login.microsoftonline.com/t/oauth2/token?next=/oauth2/v2.0/", "v1"),  # the query does not count
        ("https://idp.example/token", None),
        ("https://idp.example/myoauth2/v2.0/token", None),
        ("", None),
    ],
)
def test_entra_endpoint_version(url: str, version: str | None) -> None:
    assert entra_endpoint_version(url) == version


def test_the_schema_tells_v2_urls_by_the_same_pattern() -> None:
    section = load_schema("oauth2")["oneOf"][0]
    condition = section["dependentSchemas"]["access_token_url"]["if"]
    assert condition["properties"]["access_token_url"]["pattern"] == ENTRA_V2_URL_PATTERN


V2_CODE = {
    **{k: v for k, v in AUTH_CODE.items() if k != "authorization_parameters"},
    "access_token_url": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
    "scope": "https://contoso.crm.dynamics.com/user_impersonation offline_access",
}


def test_v2_authorization_code_needs_scope_not_resource() -> None:
    parsed = parse_settings(with_oauth(**V2_CODE), RuntimeContext())
    assert (parsed.oauth.authorization_url or "").endswith("/oauth2/v2.0/authorize")
    assert (parsed.oauth.resource, parsed.oauth.entra_version) == (None, "v2")
    without_scope = {k: v for k, v in V2_CODE.items() if k != "scope"}
    for oauth in (without_scope, {**without_scope, "scope": ""}):
        with pytest.raises(ConfigError) as caught:
            parse_settings(with_oauth(**oauth), RuntimeContext())
        assert caught.value.fields == ["oauth2.scope"]
        assert "v2" in caught.value.user_message or "blank" in caught.value.user_message


def test_jwt_defaults_follow_entra() -> None:
    jwt = parse_settings(with_oauth(**JWT), RuntimeContext()).oauth.jwt
    assert jwt is not None
    assert (jwt.issuer, jwt.subject) == ("app-id", "app-id")
    assert jwt.audience == JWT["access_token_url"]
    assert (jwt.algorithm, jwt.expiration_seconds, jwt.jti) == ("RS256", 300, "UUID")
    assert jwt.include_x5t
    assert jwt.include_x5t_s256
    assert "PRIVATE KEY" not in repr(jwt)


def test_jwt_requires_its_key_material() -> None:
    settings = with_oauth(**{**JWT, "jwt": {"signature_key": {"format": "pkcs12"}}})
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert caught.value.fields == ["oauth2.jwt.signature_key.pkcs12"]
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_oauth(**{**JWT, "jwt": {"signature_key": {"format": "pem"}}}), RuntimeContext())
    assert set(caught.value.fields) == {"oauth2.jwt.signature_key.private_key", "oauth2.jwt.signature_key.certificate"}


def test_jwt_assertion_type_needs_the_jwt_section() -> None:
    settings = with_oauth(**{k: v for k, v in JWT.items() if k != "jwt"})
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert caught.value.fields == ["oauth2.jwt"]


def test_extended_claims_cannot_replace_reserved_ones() -> None:
    jwt = {**JWT["jwt"], "extended_claims": [{"name": "tenant", "value": "x"}, {"name": "aud", "value": "evil"}]}
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_oauth(**{**JWT, "jwt": jwt}), RuntimeContext())
    assert caught.value.fields == ["oauth2.jwt.extended_claims[1].name"]
    assert "'aud' is set by the connector" in caught.value.user_message


def test_algorithm_must_be_known() -> None:
    jwt = {**JWT["jwt"], "signature_algorithm": "HS256"}
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_oauth(**{**JWT, "jwt": jwt}), RuntimeContext())
    assert caught.value.fields == ["oauth2.jwt.signature_algorithm"]
    assert "RS256" in caught.value.user_message


def test_token_url_must_be_absolute_http_url() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_oauth(**{**AUTH_CODE, "access_token_url": "ftp://idp/token"}), RuntimeContext())
    assert "oauth2.access_token_url" in caught.value.fields


def test_plain_http_token_url_warns_unless_loopback() -> None:
    remote = parse_settings(
        with_oauth(**{**AUTH_CODE, "access_token_url": "http://idp.example/t/oauth2/token"}), RuntimeContext()
    )
    assert [d.field for d in remote.diagnostics] == ["oauth2.access_token_url"]
    local = parse_settings(
        with_oauth(**{**AUTH_CODE, "access_token_url": "http://127.0.0.1:9/t/oauth2/token"}), RuntimeContext()
    )
    assert local.diagnostics == ()


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:1/", True),
        ("http://localhost/", True),
        ("http://[::1]:5/", True),
        ("http://10.0.0.1/", False),
        ("https://login.microsoftonline.com/", False),
    ],
)
def test_is_loopback_url(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_connect_loads_the_key_so_a_cut_short_one_is_a_field_error_at_once() -> None:
    """The terminal form used to save the first line of a pasted key; connect now says so, naming the field."""
    first_line = key_material().key_pem.splitlines()[0]
    settings = with_oauth(
        **{**JWT, "jwt": {"signature_key": {**JWT["jwt"]["signature_key"], "private_key": first_line}}}
    )
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert caught.value.fields == ["oauth2.jwt.signature_key.private_key"]
    assert "cut short" in caught.value.user_message


def test_connect_refuses_a_certificate_of_another_key() -> None:
    other = key_material("ES256").certificate_pem
    settings = with_oauth(**{**JWT, "jwt": {"signature_key": {**JWT["jwt"]["signature_key"], "certificate": other}}})
    with pytest.raises(ConfigError) as caught:
        parse_settings(settings, RuntimeContext())
    assert caught.value.fields == ["oauth2.jwt.signature_key.certificate"]


@pytest.mark.parametrize(
    ("oauth", "field", "words"),
    [
        (
            {**CLIENT_SECRET_SETTINGS["oauth2"], "jwt": JWT["jwt"]},
            "oauth2.jwt",
            "Client credentials with a client secret",
        ),
        ({**JWT, "client_secret": CANARY_SECRET}, "oauth2.client_secret", "certificate (JWT)"),
        ({**AUTH_CODE, "client_assertion_type": "client_secret"}, "oauth2.client_assertion_type", "Authorization code"),
        (
            {**JWT, "jwt": {"signature_key": {**JWT["jwt"]["signature_key"], "pkcs12": "MIIK"}}},
            "oauth2.jwt.signature_key.pkcs12",
            "PEM private key and certificate",
        ),
    ],
)
def test_a_field_of_another_sign_in_method_is_refused_by_name(oauth: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_oauth(**oauth), RuntimeContext())
    assert caught.value.fields == [field]
    assert "does not apply" in caught.value.user_message
    assert words in caught.value.user_message
    assert CANARY_SECRET not in caught.value.user_message


def test_an_unknown_sign_in_method_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(with_oauth(**{**AUTH_CODE, "grant_type": "password"}), RuntimeContext())
    assert caught.value.fields == ["oauth2.grant_type"]
    assert "authorization_code, client_credentials" in caught.value.user_message
