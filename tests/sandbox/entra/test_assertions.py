"""Client assertions (``private_key_jwt``) over HTTP: algorithms, thumbprints, claims, time window, replay."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import jwt
import pytest
import requests

from dataverse_sandbox.contracts import ClientRegistration
from dataverse_sandbox.entra.certificates import (
    b64url,
    certificate_info,
    certificate_pem,
    generate_ec_key,
    generate_rsa_key,
    self_signed_certificate,
)
from tests.support.entra import JWT_BEARER, EntraServer, make_assertion


def _request(server: EntraServer, assertion: str, *, client_id: str | None = None, version: str = "2.0") -> Any:
    client_id = client_id or server.provisioned.certificate_client.client_id
    form = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_assertion_type": JWT_BEARER,
        "client_assertion": assertion,
    }
    if version == "2.0":
        form["scope"] = f"{server.api_resource}/.default"
    else:
        form["resource"] = server.api_resource
    return requests.post(server.token_url(version), data=form, timeout=10)


def _rsa_assertion(server: EntraServer, **kwargs: Any) -> str:
    files = server.provisioned.certificate_client.certificates[0]
    kwargs.setdefault("audience", server.token_url("2.0"))
    return make_assertion(
        client_id=server.provisioned.certificate_client.client_id,
        key_file=files.key_file,
        certificate_file=files.certificate_file,
        **kwargs,
    )


def _refused(response: requests.Response) -> tuple[int, int]:
    return response.status_code, response.json()["error_codes"][0]


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"])
@pytest.mark.parametrize("thumbprint", ["x5t", "x5t#S256", "both"])
def test_rsa_certificate_assertions_are_accepted(entra_server: EntraServer, algorithm: str, thumbprint: str) -> None:
    response = _request(entra_server, _rsa_assertion(entra_server, algorithm=algorithm, thumbprint=thumbprint))

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["appidacr"] == "2"


def test_the_provisioned_ec_certificate_signs_es256(entra_server: EntraServer) -> None:
    files = entra_server.provisioned.certificate_client.certificates[1]
    assertion = make_assertion(
        client_id=entra_server.provisioned.certificate_client.client_id,
        key_file=files.key_file,
        certificate_file=files.certificate_file,
        audience=entra_server.token_url("2.0"),
        algorithm="ES256",
        thumbprint="x5t#S256",
    )

    assert _request(entra_server, assertion).status_code == 200


@pytest.mark.parametrize(("algorithm", "curve"), [("ES384", "P-384"), ("ES512", "P-521")])
def test_larger_ec_curves_are_accepted(entra_server: EntraServer, algorithm: str, curve: str) -> None:
    key = generate_ec_key(curve)
    pem = certificate_pem(self_signed_certificate(key, "ec-test", not_before=time.time()))
    client_id = str(uuid.uuid4())
    entra_server.service.register_client(ClientRegistration(client_id, "EC test", certificates_pem=(pem,)))
    assertion = make_assertion(
        client_id=client_id,
        key=key,
        certificate_pem=pem,
        audience=entra_server.token_url("2.0"),
        algorithm=algorithm,
    )

    assert _request(entra_server, assertion, client_id=client_id).status_code == 200


def test_v1_token_endpoint_is_an_accepted_audience_too(entra_server: EntraServer) -> None:
    assertion = _rsa_assertion(entra_server, audience=entra_server.token_url("1.0"))

    assert _request(entra_server, assertion, version="1.0").status_code == 200


def test_padded_thumbprints_are_accepted(entra_server: EntraServer) -> None:
    # SHA-1 is 20 bytes: its base64url has one '=' of padding, which some libraries keep.
    files = entra_server.provisioned.certificate_client.certificates[0]
    padded = certificate_info(files.certificate_file.read_bytes()).x5t + "="
    assertion = _rsa_assertion(entra_server, thumbprint="none", headers={"x5t": padded})

    assert _request(entra_server, assertion).status_code == 200


def test_missing_thumbprint_is_refused(entra_server: EntraServer) -> None:
    response = _request(entra_server, _rsa_assertion(entra_server, thumbprint="none"))

    assert _refused(response) == (401, 50027)
    assert "thumbprint" in response.json()["error_description"]


def test_an_unregistered_certificate_is_key_not_found(entra_server: EntraServer) -> None:
    key = generate_rsa_key()
    pem = certificate_pem(self_signed_certificate(key, "stranger", not_before=time.time()))
    assertion = make_assertion(
        client_id=entra_server.provisioned.certificate_client.client_id,
        key=key,
        certificate_pem=pem,
        audience=entra_server.token_url("2.0"),
    )

    response = _request(entra_server, assertion)

    assert _refused(response) == (401, 700027)
    assert response.json()["error"] == "invalid_client"
    assert "The key was not found." in response.json()["error_description"]


def test_a_signature_by_another_key_is_refused(entra_server: EntraServer) -> None:
    files = entra_server.provisioned.certificate_client.certificates[0]
    assertion = make_assertion(
        client_id=entra_server.provisioned.certificate_client.client_id,
        key=generate_rsa_key(),  # the registered certificate's thumbprint, but not its key
        certificate_file=files.certificate_file,
        audience=entra_server.token_url("2.0"),
    )

    response = _request(entra_server, assertion)

    assert _refused(response) == (401, 700027)
    assert "did not match the expected signature" in response.json()["error_description"]


def test_an_algorithm_that_does_not_fit_the_key_is_refused(entra_server: EntraServer) -> None:
    files = entra_server.provisioned.certificate_client.certificates[0]
    genuine = _rsa_assertion(entra_server)
    # Same claims, re-signed with HMAC keyed by the public certificate: the classic algorithm-confusion attack.
    header = {"alg": "HS256", "typ": "JWT", "x5t": jwt.get_unverified_header(genuine)["x5t"]}
    signing_input = f"{b64url(json.dumps(header).encode())}.{genuine.split('.')[1]}"
    mac = hmac.new(files.certificate_file.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url(mac)}"

    assert _refused(_request(entra_server, forged)) == (401, 50027)


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"aud": "https://login.microsoftonline.com/x/oauth2/v2.0/token"}, 50027),
        ({"sub": "someone-else"}, 50048),
        ({"iss": str(uuid.UUID(int=1)), "sub": str(uuid.UUID(int=1))}, 700021),
        ({"exp": None}, 50027),
        ({"jti": None}, 50027),
    ],
    ids=["wrong audience", "sub differs from iss", "iss is another client", "no exp", "no jti"],
)
def test_claims_are_checked(entra_server: EntraServer, claims: dict[str, Any], code: int) -> None:
    response = _request(entra_server, _rsa_assertion(entra_server, claims=claims))

    assert _refused(response) == (401, code)


def test_the_time_window_allows_the_skew_and_no_more(entra_server: EntraServer) -> None:
    now = entra_server.clock.now()
    just_expired = _rsa_assertion(entra_server, now=now - 600 - 30)  # expired 30 s ago: within the 60 s skew
    long_expired = _rsa_assertion(entra_server, now=now - 600 - 120)
    not_yet = _rsa_assertion(entra_server, now=now + 300)

    assert _request(entra_server, just_expired).status_code == 200
    response = _request(entra_server, long_expired)
    assert _refused(response) == (401, 700024)
    assert "not within its valid time range" in response.json()["error_description"]
    assert _refused(_request(entra_server, not_yet)) == (401, 700024)


def test_an_assertion_expires_when_the_clock_moves_on(entra_server: EntraServer) -> None:
    assertion = _rsa_assertion(entra_server, now=entra_server.clock.now())

    entra_server.clock.advance(600 + 61)

    assert _refused(_request(entra_server, assertion)) == (401, 700024)


def test_an_assertion_without_nbf_is_accepted_as_msal_sends_it(entra_server: EntraServer) -> None:
    assert _request(entra_server, _rsa_assertion(entra_server, claims={"nbf": None})).status_code == 200


def test_a_replayed_jti_is_refused(entra_server: EntraServer) -> None:
    assertion = _rsa_assertion(entra_server)

    first = _request(entra_server, assertion)
    second = _request(entra_server, assertion)

    assert first.status_code == 200
    assert _refused(second) == (401, 50027)
    assert "already used" in second.json()["error_description"]


def test_an_expired_certificate_is_refused(entra_server: EntraServer) -> None:
    assertion_time = entra_server.clock.now() + 3 * 365 * 86400  # the provisioned certificates last two years
    entra_server.clock.advance(3 * 365 * 86400)

    response = _request(entra_server, _rsa_assertion(entra_server, now=assertion_time))

    assert _refused(response) == (401, 700027)
    assert "expired" in response.json()["error_description"]


def test_an_assertion_type_other_than_jwt_bearer_is_refused(entra_server: EntraServer) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": entra_server.provisioned.certificate_client.client_id,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
        "client_assertion": _rsa_assertion(entra_server),
        "scope": f"{entra_server.api_resource}/.default",
    }

    response = requests.post(entra_server.token_url(), data=form, timeout=10)

    assert _refused(response) == (400, 90100)
