"""Client authentication at the token endpoint: secret in the body, HTTP Basic, JWT assertion, or none (public).

HTTP Basic is decoded per RFC 6749 §2.3.1: the client id and secret were form-urlencoded before base64, so a
secret with ``+`` or ``%`` arrives intact only when the client encoded it. A request may use one method only.
An application with neither secrets nor certificates is a public client: it must send no credential
(AADSTS700025) and its tokens carry ``appidacr`` 0. Not for: which grant needs which client (the token
endpoint decides that) or assertion details (``assertions.py``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_plus

from dataverse_sandbox.contracts import ClientRegistration
from dataverse_sandbox.entra import aadsts
from dataverse_sandbox.entra.assertions import JWT_BEARER_ASSERTION_TYPE, AssertionVerifier
from dataverse_sandbox.entra.directory import Directory

__all__ = ["AuthenticatedClient", "ClientCredentials", "authenticate_client", "read_client_credentials"]

Method = Literal["client_secret_post", "client_secret_basic", "private_key_jwt", "none"]

_APPIDACR: dict[Method, Literal["0", "1", "2"]] = {
    "none": "0",
    "client_secret_post": "1",
    "client_secret_basic": "1",
    "private_key_jwt": "2",
}


@dataclass(frozen=True)
class ClientCredentials:
    """What a token request presented to identify and authenticate its client.

    :param client_id: from the body or the Basic header; ``None`` when absent.
    :param secret: the client secret; never logged.
    :param assertion: the client assertion JWT; never logged.
    :param via_basic: whether the secret came in an ``Authorization: Basic`` header.
    """

    client_id: str | None
    secret: str | None = field(default=None, repr=False)
    assertion: str | None = field(default=None, repr=False)
    via_basic: bool = False


@dataclass(frozen=True)
class AuthenticatedClient:
    """An application whose credential checked out.

    :param registration: the application.
    :param method: how it authenticated.
    """

    registration: ClientRegistration
    method: Method

    @property
    def appidacr(self) -> Literal["0", "1", "2"]:
        """:returns: the ``appidacr`` claim: ``0`` public, ``1`` secret, ``2`` certificate."""
        return _APPIDACR[self.method]


def _decode_basic(value: str) -> tuple[str, str]:
    _, _, encoded = value.strip().partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise aadsts.malformed_request("The Authorization header is not valid Basic authentication.") from None
    user, separator, password = decoded.partition(":")
    if not separator:
        raise aadsts.malformed_request("The Authorization header is not valid Basic authentication.")
    return unquote_plus(user), unquote_plus(password)


def read_client_credentials(form: Mapping[str, str], authorization: str | None) -> ClientCredentials:
    """Collect the client's identity and credential from a token request.

    :param form: the form-encoded body.
    :param authorization: the ``Authorization`` header, if any (only ``Basic`` is considered).
    :returns: the credentials as presented.
    :raises EntraError: for a malformed Basic header, more than one method, a ``client_id`` that differs
        from the Basic user, or an incomplete or unsupported assertion.
    """
    client_id = form.get("client_id") or None
    secret = form.get("client_secret") or None
    assertion = form.get("client_assertion") or None
    assertion_type = form.get("client_assertion_type") or None
    via_basic = False
    if authorization and authorization.strip().lower().startswith("basic "):
        basic_id, basic_secret = _decode_basic(authorization)
        if secret is not None or assertion is not None:
            raise aadsts.malformed_request("More than one client authentication method was used.")
        if client_id is not None and client_id.lower() != basic_id.lower():
            raise aadsts.malformed_request("The client_id parameter differs from the Authorization header.")
        client_id, secret, via_basic = basic_id, basic_secret, True
    if secret is not None and assertion is not None:
        raise aadsts.malformed_request("More than one client authentication method was used.")
    if assertion is not None and assertion_type is None:
        raise aadsts.missing_parameter("client_assertion_type")
    if assertion_type is not None:
        if assertion_type != JWT_BEARER_ASSERTION_TYPE:
            raise aadsts.invalid_parameter("client_assertion_type")
        if assertion is None:
            raise aadsts.missing_parameter("client_assertion")
    return ClientCredentials(client_id=client_id, secret=secret, assertion=assertion, via_basic=via_basic)


def authenticate_client(
    credentials: ClientCredentials, registration: ClientRegistration, verifier: AssertionVerifier
) -> AuthenticatedClient:
    """Check the presented credential against the application's registered ones.

    :param credentials: what the request presented.
    :param registration: the application named by the request.
    :param verifier: checks client assertions.
    :returns: the authenticated client (method ``none`` for a public client that sent nothing).
    :raises EntraError: AADSTS700025 (public client sent a credential), AADSTS7000215 (wrong secret),
        AADSTS7000218 (confidential client sent nothing), or an assertion error.
    """
    if Directory.is_public(registration):
        if credentials.secret is not None or credentials.assertion is not None:
            raise aadsts.public_client_with_credentials()
        return AuthenticatedClient(registration, "none")
    if credentials.secret is not None:
        presented = credentials.secret.encode("utf-8")
        # Compare against every secret without stopping early, so timing does not tell which one was close.
        matches = [hmac.compare_digest(presented, secret.encode("utf-8")) for secret in registration.secrets]
        if not any(matches):
            raise aadsts.invalid_client_secret(registration.client_id)
        return AuthenticatedClient(
            registration, "client_secret_basic" if credentials.via_basic else "client_secret_post"
        )
    if credentials.assertion is not None:
        verifier.verify(credentials.assertion, registration, client_id=registration.client_id)
        return AuthenticatedClient(registration, "private_key_jwt")
    raise aadsts.missing_client_credentials()
