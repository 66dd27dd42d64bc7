"""The sign-in HTML: stable form fields, escaping, and never the password."""

from __future__ import annotations

from dataverse_sandbox.entra import pages
from tests.support.entra import form_fields


def test_login_form_fields_and_prefill() -> None:
    html = pages.login_page(
        action="/t/login", ctx="c1", csrf="x1", client_name="App", tenant_domain="sandbox.test", user_name="a@b"
    )

    action, fields = form_fields(html)

    assert action == "/t/login"
    assert fields == {"ctx": "c1", "csrf": "x1", "login": "a@b", "passwd": ""}


def test_values_are_escaped() -> None:
    html = pages.login_page(
        action="/t/login",
        ctx="c",
        csrf="x",
        client_name="<script>alert(1)</script>",
        tenant_domain="sandbox.test",
        user_name='"><img src=x>',
        error_message="<b>bad</b>",
    )

    assert "<script>alert(1)" not in html
    assert '"><img' not in html
    assert "&lt;b&gt;bad&lt;/b&gt;" in html


def test_consent_offers_accept_and_cancel() -> None:
    html = pages.consent_page(
        action="/t/consent",
        ctx="c",
        csrf="x",
        client_name="App",
        user_name="alice",
        resource="https://r",
        permission="p",
    )

    assert 'name="decision" value="accept"' in html
    assert 'name="decision" value="cancel"' in html
    assert form_fields(html) == ("/t/consent", {"ctx": "c", "csrf": "x"})


def test_form_post_page_carries_the_parameters() -> None:
    html = pages.form_post_page(action="http://localhost/cb", params={"code": "abc", "state": "s&t"}, nonce="n")

    assert form_fields(html) == ("http://localhost/cb", {"code": "abc", "state": "s&t"})
    assert 'nonce="n"' in html


def test_error_page_shows_code_and_description() -> None:
    html = pages.error_page(code=50011, description="AADSTS50011: <uri>\r\nTrace ID: t")

    assert "AADSTS50011" in html
    assert "&lt;uri&gt;" in html
