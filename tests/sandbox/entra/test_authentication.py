"""Client authentication: reading the credential from a token request and checking it."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest

from dataverse_sandbox.contracts import ClientRegistration, Clock
from dataverse_sandbox.entra.assertions import JWT_BEARER_ASSERTION_TYPE, AssertionVerifier
from dataverse_sandbox.entra.authentication import authenticate_client, read_client_credentials
from dataverse_sandbox.entra.errors import EntraError

ASSERTION = {"client_assertion": "x", "client_assertion_type": JWT_BEARER_ASSERTION_TYPE}
VERIFIER = AssertionVerifier(clock=Clock(), audiences=["http://h/t/oauth2/v2.0/token"])


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{quote_plus(user)}:{quote_plus(password)}".encode()).decode()


def _code(form: dict[str, str], authorization: str | None = None) -> int:
    with pytest.raises(EntraError) as refused:
        read_client_credentials(form, authorization)
    return refused.value.code


def test_body_credentials() -> None:
    credentials = read_client_credentials({"client_id": "a", "client_secret": "canary-secret"}, None)

    assert (credentials.client_id, credentials.secret, credentials.via_basic) == ("a", "canary-secret", False)
    assert "canary-secret" not in repr(credentials)


def test_basic_credentials_are_form_urldecoded() -> None:
    credentials = read_client_credentials({}, _basic("client:1", "p+q%r s"))

    assert (credentials.client_id, credentials.secret, credentials.via_basic) == ("client:1", "p+q%r s", True)


def test_a_matching_client_id_in_the_body_is_allowed_with_basic() -> None:
    assert read_client_credentials({"client_id": "A"}, _basic("a", "s")).client_id == "a"


@pytest.mark.parametrize(
    ("form", "authorization", "code"),
    [
        ({}, "Basic !!!not-base64", 9002313),
        ({}, "Basic " + base64.b64encode(b"no-colon").decode(), 9002313),
        ({"client_secret": "s"}, _basic("a", "s"), 9002313),
        ({"client_id": "b"}, _basic("a", "s"), 9002313),
        ({"client_secret": "s", **ASSERTION}, None, 9002313),
        ({"client_assertion": "x"}, None, 900144),
        ({"client_assertion_type": JWT_BEARER_ASSERTION_TYPE}, None, 900144),
        ({"client_assertion": "x", "client_assertion_type": "other"}, None, 90100),
    ],
    ids=["not base64", "no colon", "basic and body", "different ids", "two methods", "no type", "no assertion",
         "other type"],
)  # fmt: skip
def test_malformed_credentials(form: dict[str, str], authorization: str | None, code: int) -> None:
    assert _code(form, authorization) == code


def test_a_bearer_authorization_header_is_ignored() -> None:
    assert read_client_credentials({"client_id": "a"}, "Bearer x").client_id == "a"


def test_secrets_are_checked_against_every_registered_secret() -> None:
    registration = ClientRegistration("a", "App", secrets=("old", "new"))

    client = authenticate_client(
        read_client_credentials({"client_id": "a", "client_secret": "new"}, None), registration, VERIFIER
    )
    basic = authenticate_client(read_client_credentials({}, _basic("a", "old")), registration, VERIFIER)

    assert (client.method, client.appidacr) == ("client_secret_post", "1")
    assert basic.method == "client_secret_basic"
    with pytest.raises(EntraError) as refused:
        authenticate_client(
            read_client_credentials({"client_id": "a", "client_secret": "x"}, None), registration, VERIFIER
        )
    assert refused.value.code == 7000215


def test_public_and_confidential_clients() -> None:
    public = ClientRegistration("p", "Public")
    confidential = ClientRegistration("c", "Confidential", secrets=("s",))
    nothing = read_client_credentials({"client_id": "p"}, None)

    assert authenticate_client(nothing, public, VERIFIER).appidacr == "0"
    with pytest.raises(EntraError) as missing:
        authenticate_client(nothing, confidential, VERIFIER)
    with pytest.raises(EntraError) as public_with_secret:
        authenticate_client(read_client_credentials({"client_id": "p", "client_secret": "s"}, None), public, VERIFIER)
    assert missing.value.code == 7000218
    assert public_with_secret.value.code == 700025
