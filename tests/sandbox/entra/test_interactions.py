"""Pending sign-ins, sessions and consents."""

from __future__ import annotations

import pytest

from dataverse_sandbox.contracts import Clock
from dataverse_sandbox.entra.directory import TenantRef
from dataverse_sandbox.entra.interactions import InteractionStore, PendingSignIn, ResponseTarget
from dataverse_sandbox.entra.scopes import RequestedAccess


def _start(store: InteractionStore, csrf: str = "c" * 43) -> PendingSignIn:
    return store.start(
        csrf=csrf,
        tenant=TenantRef("t", "tenant"),
        client_id="client",
        target=ResponseTarget("http://localhost/cb", "query", None),
        access=RequestedAccess("https://api"),
        version="2.0",
        nonce=None,
        challenge=None,
        method=None,
        force_consent=False,
    )


@pytest.mark.parametrize(
    ("cookie", "form"), [(None, "c" * 43), ("c" * 43, None), ("d" * 43, "c" * 43), ("c" * 43, "d" * 43)]
)
def test_resume_needs_matching_cookie_and_form_values(cookie: str | None, form: str | None) -> None:
    store = InteractionStore(clock=Clock())
    pending = _start(store)

    assert store.resume(pending.ctx, cookie_csrf=cookie, form_csrf=form) is None
    assert store.resume(pending.ctx, cookie_csrf="c" * 43, form_csrf="c" * 43) is pending


def test_pending_sign_ins_expire_and_finish() -> None:
    clock = Clock()
    store = InteractionStore(clock=clock, lifetime=60)
    expiring, finished = _start(store), _start(store)

    store.finish(finished.ctx)
    clock.advance(61)

    assert store.resume(expiring.ctx, cookie_csrf="c" * 43, form_csrf="c" * 43) is None
    assert store.resume(finished.ctx, cookie_csrf="c" * 43, form_csrf="c" * 43) is None


def test_sessions_expire() -> None:
    clock = Clock()
    store = InteractionStore(clock=clock, session_lifetime=100)
    session = store.open_session("user-1")

    assert store.session_user(session) == "user-1"
    assert store.session_user("forged") is None
    assert store.session_user(None) is None
    clock.advance(101)
    assert store.session_user(session) is None


def test_consent_is_remembered_per_user_and_client() -> None:
    store = InteractionStore(clock=Clock())

    store.grant_consent("user-1", "CLIENT")

    assert store.has_consent("user-1", "client")
    assert not store.has_consent("user-2", "client")
    assert not store.has_consent("user-1", "other")
