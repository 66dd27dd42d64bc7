"""The connector's grants against an authorization server nobody here wrote: npm ``oidc-provider`` (``oidc_interop``),
configured like Entra v1 (resource indicators, ``private_key_jwt`` checking ``x5t`` / ``x5t#S256``, PKCE, rotating
refresh tokens). Successes are checked by verifying the issued access token with the server's JWKS; refusals by the
field the connector names.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest

from connector.auth.entra_errors import AUTHORIZATION_REQUIRED
from connector.auth.tokens import TokenSource, build_token_source
from connector.context import RuntimeContext
from connector.errors import AuthError
from connector.host.facade import ConnectorHost
from connector.host.loader import get_plugin_manager
from connector.results import AuthorizationCallback, AuthorizationStart, Connection, TokenSet
from connector.settings import parse_settings
from tests.support.auth import RecordingStore
from tests.support.interop import InteropServer
from tests.support.interop_keys import AssertionKey

pytestmark = pytest.mark.interop

CONNECTOR = "dynamics365-ce"
CONNECTION = {"protocol": "https", "base_url": "contoso.crm.dynamics.com"}


@pytest.fixture(scope="module")
def host() -> Iterator[ConnectorHost]:
    connector_host = ConnectorHost(get_plugin_manager(environ={}), trace=False)
    yield connector_host
    connector_host.close()


def verified_claims(server: InteropServer, access_token: str) -> dict[str, Any]:
    """Verify an access token with the server's JWKS and return its claims (``aud`` must be the resource)."""
    header = jwt.get_unverified_header(access_token)
    key = jwt.PyJWKSet.from_dict(server.jwks())[header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        access_token, key, algorithms=["RS256"], audience=server.resource, issuer=server.issuer
    )
    return claims


def secret_tab(server: InteropServer, client_id: str, secret: str, method: str) -> dict[str, Any]:
    return {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": secret,
        "client_authentication": method,
        "access_token_url": server.token_url,
        "access_token_parameters": [{"name": "resource", "value": server.resource}],
    }


def assertion_tab(
    server: InteropServer, key: AssertionKey, *, signer: AssertionKey | None = None, **jwt_fields: Any
) -> dict[str, Any]:
    signing = signer or key
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "jwt",
        "client_id": key.client_id,
        "access_token_url": server.token_url,
        "access_token_parameters": [{"name": "resource", "value": server.resource}],
        "jwt": {
            "signature_algorithm": key.algorithm,
            "signature_key": {
                "format": "pem",
                "private_key": signing.key_path.read_text(),
                "certificate": signing.cert_path.read_text(),
            },
            **jwt_fields,
        },
    }


def code_tab(server: InteropServer) -> dict[str, Any]:
    return {
        "grant_type": "authorization_code",
        "client_id": server.auth_code.client_id,
        "client_secret": server.auth_code.client_secret,
        "access_token_url": server.token_url,
        "authorization_url": server.authorize_url,
        "authorization_parameters": [{"name": "resource", "value": server.resource}],
    }


def source_for(oauth: dict[str, Any], *, clock: Any = time.time, store: RecordingStore | None = None) -> TokenSource:
    context = RuntimeContext(token_store=store or RecordingStore())
    settings = parse_settings({"connection": CONNECTION, "oauth2": oauth}, context)
    return build_token_source(settings, context, clock=clock)


def refusal(oauth: dict[str, Any], **kwargs: Any) -> AuthError:
    with pytest.raises(AuthError) as caught:
        source_for(oauth, **kwargs).bearer()
    return caught.value


# --- client credentials ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["secret_post", "secret_basic"])
def test_client_secret_through_the_hook(oidc_interop: InteropServer, host: ConnectorHost, which: str) -> None:
    client = getattr(oidc_interop, which)
    tab = secret_tab(oidc_interop, client.client_id, client.client_secret, client.auth_method)
    connection = host.connect(CONNECTOR, {"connection": CONNECTION, "oauth2": tab}, RuntimeContext())
    token_set = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(token_set, TokenSet)
    assert verified_claims(oidc_interop, token_set.access_token)["client_id"] == client.client_id
    assert token_set.expires_at is not None
    assert token_set.expires_at - time.time() == pytest.approx(oidc_interop.access_token_ttl, abs=30)


def test_basic_secret_with_special_characters_and_a_duplicate_client_id(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_basic
    tab = secret_tab(oidc_interop, client.client_id, client.client_secret, client.auth_method)
    tab["access_token_parameters"].append({"name": "client_id", "value": client.client_id})
    assert set("+%/ ") <= set(client.client_secret)
    verified_claims(oidc_interop, source_for(tab).bearer())


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256"])
@pytest.mark.parametrize(("s256", "sha1"), [(False, True), (True, False), (True, True)])
def test_jwt_assertion_with_each_thumbprint_choice(
    oidc_interop: InteropServer, algorithm: str, s256: bool, sha1: bool
) -> None:
    key = oidc_interop.assertion_keys[algorithm]
    token = source_for(assertion_tab(oidc_interop, key, include_x5t_s256=s256, include_x5t=sha1)).bearer()
    assert verified_claims(oidc_interop, token)["client_id"] == key.client_id


@pytest.mark.parametrize("algorithm", ["RS384", "RS512", "PS384", "PS512", "ES384", "ES512"])
def test_jwt_assertion_with_the_other_algorithms(oidc_interop: InteropServer, algorithm: str) -> None:
    key = oidc_interop.assertion_keys[algorithm]
    verified_claims(oidc_interop, source_for(assertion_tab(oidc_interop, key)).bearer())


def test_either_certificate_of_a_rollover_signs(oidc_interop: InteropServer) -> None:
    for key in oidc_interop.rollover_keys:
        verified_claims(oidc_interop, source_for(assertion_tab(oidc_interop, key)).bearer())


def test_every_token_request_gets_a_new_assertion(oidc_interop: InteropServer) -> None:
    source = source_for(assertion_tab(oidc_interop, oidc_interop.assertion_keys["RS256"]))
    first = source.fetch().access_token
    second = source.fetch().access_token  # a replayed jti would be refused
    assert first != second


# --- authorization code --------------------------------------------------------------------------------------------


def authorize(server: InteropServer, host: ConnectorHost, store: RecordingStore) -> tuple[Connection, TokenSet]:
    context = RuntimeContext(callback_url=server.redirect_uri, token_store=store)
    connection = host.connect(CONNECTOR, {"connection": CONNECTION, "oauth2": code_tab(server)}, context)
    start = host.authorize(CONNECTOR, connection, "start")
    assert isinstance(start, AuthorizationStart)
    redirect = server.complete_authorization(start.url)
    params = dict(parse_qsl(urlsplit(redirect).query))
    token_set = host.authorize(CONNECTOR, connection, AuthorizationCallback(params, start.state, start.code_verifier))
    assert isinstance(token_set, TokenSet)
    return connection, token_set


def test_authorization_code_with_resource_pkce_and_refresh_rotation(
    oidc_interop: InteropServer, host: ConnectorHost
) -> None:
    store = RecordingStore()
    connection, first = authorize(oidc_interop, host, store)
    assert verified_claims(oidc_interop, first.access_token)["sub"] == "alice"
    assert first.scope == oidc_interop.resource_scope
    assert first.refresh_token

    second = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(second, TokenSet)
    assert second.refresh_token not in (None, first.refresh_token)
    verified_claims(oidc_interop, second.access_token)
    third = host.authorize(CONNECTOR, connection, "token")
    assert isinstance(third, TokenSet)
    assert [saved["refresh_token"] for _, saved in store.saves] == [
        first.refresh_token,
        second.refresh_token,
        third.refresh_token,
    ]


def test_a_reused_refresh_token_is_refused_and_the_user_must_authorize_again(
    oidc_interop: InteropServer, host: ConnectorHost
) -> None:
    store = RecordingStore()
    connection, first = authorize(oidc_interop, host, store)
    host.authorize(CONNECTOR, connection, "token")  # rotates: the first refresh token is now spent

    # A worker that lost the rotation (its store still holds the first token set) tries the spent token.
    lost = RecordingStore()
    stale = source_for(code_tab(oidc_interop), store=lost)
    lost.items[stale.store_key] = first.to_dict()
    with pytest.raises(AuthError) as caught:
        stale.fetch()
    assert caught.value.code == AUTHORIZATION_REQUIRED
    requests_made = stale.requests
    with pytest.raises(AuthError):
        stale.fetch()
    assert stale.requests == requests_made  # the spent token is never sent again
    # The reuse revoked the whole grant (oidc-provider, like Entra's family revocation): authorize again.
    with pytest.raises(AuthError) as revoked:
        host.authorize(CONNECTOR, connection, "token")
    assert revoked.value.code == AUTHORIZATION_REQUIRED


def test_a_callback_without_pkce_proof_is_refused(oidc_interop: InteropServer, host: ConnectorHost) -> None:
    context = RuntimeContext(callback_url=oidc_interop.redirect_uri, token_store=RecordingStore())
    connection = host.connect(CONNECTOR, {"connection": CONNECTION, "oauth2": code_tab(oidc_interop)}, context)
    start = host.authorize(CONNECTOR, connection, "start")
    assert isinstance(start, AuthorizationStart)
    params = dict(parse_qsl(urlsplit(oidc_interop.complete_authorization(start.url)).query))
    wrong_verifier = AuthorizationCallback(params, start.state, "x" * 64)
    with pytest.raises(AuthError) as caught:
        host.authorize(CONNECTOR, connection, wrong_verifier)
    assert caught.value.code == AUTHORIZATION_REQUIRED


# --- refusals -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["secret_post", "secret_basic"])
def test_wrong_secret_names_client_secret(oidc_interop: InteropServer, which: str) -> None:
    client = getattr(oidc_interop, which)
    error = refusal(secret_tab(oidc_interop, client.client_id, client.client_secret + "x", client.auth_method))
    assert error.field == "oauth2.client_secret"
    assert error.code == "invalid_client"
    assert client.client_secret not in str(error)


def test_assertion_signed_by_another_key_names_the_signature_key(oidc_interop: InteropServer) -> None:
    registered = oidc_interop.assertion_keys["RS256"]
    error = refusal(assertion_tab(oidc_interop, registered, signer=oidc_interop.unregistered_key))
    assert error.field == "oauth2.jwt.signature_key"


def test_expired_assertion_names_the_time_window(oidc_interop: InteropServer) -> None:
    key = oidc_interop.assertion_keys["ES256"]

    def an_hour_slow() -> float:
        return time.time() - 3600

    error = refusal(assertion_tab(oidc_interop, key), clock=an_hour_slow)
    assert error.field == "oauth2.jwt.expiration_seconds"
    assert "clock" in error.user_message


@pytest.mark.parametrize(
    ("jwt_fields", "ahead", "field"),
    [
        pytest.param({"jti": "NONE"}, 0.0, "oauth2.jwt.jti", id="jti NONE"),
        pytest.param({"audience": "https://login.example/other/token"}, 0.0, "oauth2.jwt.audience", id="audience"),
        pytest.param({}, 40.0, "oauth2.jwt.expiration_seconds", id="clock 40 s ahead"),
    ],
)
def test_a_silent_assertion_refusal_names_the_likely_setting(
    oidc_interop: InteropServer, jwt_fields: dict[str, Any], ahead: float, field: str
) -> None:
    """oidc-provider says only "client authentication failed" (its reason is on its stderr): the field is named from
    the one setting changed from what Entra documents, or from the clock's offset to the server's ``Date``.
    """
    key = oidc_interop.assertion_keys["PS256"]

    def clock() -> float:
        return time.time() + ahead

    error = refusal(assertion_tab(oidc_interop, key, **jwt_fields), clock=clock)
    assert error.code == "invalid_client"
    assert error.field == field


def test_unknown_resource_names_the_resource_parameter(oidc_interop: InteropServer) -> None:
    client = oidc_interop.secret_post
    tab = secret_tab(oidc_interop, client.client_id, client.client_secret, client.auth_method)
    tab["access_token_parameters"] = [{"name": "resource", "value": "https://unknown.crm.dynamics.com"}]
    error = refusal(tab)
    assert error.field == "oauth2.access_token_parameters"
    assert error.code == "invalid_target"
