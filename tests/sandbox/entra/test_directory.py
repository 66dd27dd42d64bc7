"""The sandbox tenant's directory: tenant segments, applications, redirect URIs, users."""

from __future__ import annotations

import uuid

import pytest

from dataverse_sandbox.contracts import ClientRegistration
from dataverse_sandbox.entra import SandboxUser
from dataverse_sandbox.entra.directory import Directory

TENANT = str(uuid.UUID(int=1))
CLIENT = str(uuid.UUID(int=2))


def _directory(**kwargs: bool) -> Directory:
    registration = ClientRegistration(CLIENT, "App", secrets=("s",), redirect_uris=("http://localhost/cb",))
    users = [
        SandboxUser("alice@sandbox.test", "Alice", "oid-a", "pw"),
        SandboxUser("bob@sandbox.test", "Bob", "oid-b", "x"),
    ]
    return Directory(tenant_id=TENANT, domain="Sandbox.Test", registrations=[registration], users=users, **kwargs)


@pytest.mark.parametrize(
    ("segment", "kind"),
    [(TENANT, "tenant"), (TENANT.upper(), "tenant"), ("sandbox.test", "tenant"), ("common", "common"),
     ("Organizations", "organizations"), ("consumers", "consumers")],
)  # fmt: skip
def test_tenant_segments(segment: str, kind: str) -> None:
    resolved = _directory().resolve_tenant(segment)

    assert resolved is not None
    assert resolved.kind == kind
    assert resolved.segment == segment
    assert resolved.is_multi_tenant == (kind != "tenant")


def test_unknown_tenants_do_not_resolve() -> None:
    assert _directory().resolve_tenant(str(uuid.uuid4())) is None
    assert _directory().resolve_tenant("contoso.com") is None


def test_redirect_uris_match_exactly_and_can_be_added() -> None:
    directory = _directory()
    registration = directory.client(CLIENT)
    assert registration is not None

    assert directory.redirect_uri_allowed(registration, "http://localhost/cb")
    assert not directory.redirect_uri_allowed(registration, "http://localhost:8400/cb")
    assert not directory.redirect_uri_allowed(registration, "http://localhost/cb/")
    directory.register_redirect_uri(CLIENT.upper(), "http://127.0.0.1:8400/cb")
    updated = directory.client(CLIENT)
    assert updated is not None
    assert directory.redirect_uri_allowed(updated, "http://127.0.0.1:8400/cb")


def test_loopback_ports_may_be_ignored_like_entra_does_for_native_apps() -> None:
    directory = _directory(ignore_loopback_port=True)
    registration = directory.client(CLIENT)
    assert registration is not None

    assert directory.redirect_uri_allowed(registration, "http://localhost:53111/cb")
    assert not directory.redirect_uri_allowed(registration, "http://localhost:53111/other")
    assert not directory.redirect_uri_allowed(registration, "https://localhost:53111/cb")
    assert not directory.redirect_uri_allowed(registration, "http://localhost.evil.example:53111/cb")


def test_auto_consent_can_be_switched_at_run_time() -> None:
    directory = _directory()

    directory.set_auto_consent(CLIENT, True)

    registration = directory.client(CLIENT)
    assert registration is not None
    assert registration.auto_consent
    with pytest.raises(KeyError):
        directory.set_auto_consent(str(uuid.uuid4()), True)


def test_principal_ids_are_registered_or_stably_derived() -> None:
    registered = ClientRegistration(CLIENT, "App", object_id="explicit")
    derived = ClientRegistration(CLIENT, "App")

    assert Directory.principal_id(registered) == "explicit"
    assert Directory.principal_id(derived) == Directory.principal_id(ClientRegistration(CLIENT.upper(), "Other"))
    uuid.UUID(Directory.principal_id(derived))


def test_public_clients_have_no_credentials() -> None:
    assert Directory.is_public(ClientRegistration(CLIENT, "App"))
    assert not Directory.is_public(ClientRegistration(CLIENT, "App", secrets=("s",)))
    assert not Directory.is_public(ClientRegistration(CLIENT, "App", certificates_pem=(b"pem",)))


def test_users_are_found_by_name_case_insensitively_and_by_id() -> None:
    directory = _directory()

    user = directory.user_by_name(" ALICE@sandbox.test ")

    assert user is not None
    assert user.object_id == "oid-a"
    assert directory.user_by_id("oid-b") == directory.users[1]
    assert directory.default_user == user
    assert directory.user_by_name("carol@sandbox.test") is None
    assert "pw" not in repr(user)
