"""The HTML of the sign-in flow: login form, consent form, error page and ``form_post`` auto-submit page.

Plain forms with no script (except the optional auto-submit of ``form_post``, under a CSP nonce), so a browser,
a ``requests.Session`` or a test can complete them: field names are stable (``ctx``, ``csrf``, ``login``,
``passwd``, ``decision``). Every value is HTML-escaped; the password is never rendered back. Not for: deciding
what to show (``authcode.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

__all__ = ["consent_page", "error_page", "form_post_page", "login_page"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f2f2f2;margin:0}"
    "main{max-width:440px;margin:8vh auto;background:#fff;padding:2.5rem;box-shadow:0 2px 6px rgba(0,0,0,.2)}"
    "h1{font-size:1.5rem;font-weight:600}label{display:block;margin-top:1rem}"
    "input[type=text],input[type=email],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}"
    "button{margin-top:1.5rem;margin-right:.5rem;padding:.5rem 1.5rem}"
    ".error{color:#a80000}.note{color:#555;font-size:.85rem}pre{white-space:pre-wrap;font-size:.8rem}"
)


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _hidden(name: str, value: str) -> str:
    return f'<input type="hidden" name="{escape(name)}" value="{escape(value)}">'


def login_page(
    *,
    action: str,
    ctx: str,
    csrf: str,
    client_name: str,
    tenant_domain: str,
    user_name: str = "",
    error_message: str | None = None,
) -> str:
    """:param action: where the form posts (``/{tenant}/login``).
    :param ctx: the sign-in transaction id.
    :param csrf: the anti-forgery value, also set as a cookie.
    :param client_name: the application's display name.
    :param tenant_domain: shown as the sign-in hint.
    :param user_name: prefilled user name (``login_hint`` or the previous attempt); never the password.
    :param error_message: the failure of the previous attempt, e.g. AADSTS50126.
    :returns: the login page.
    """
    error = f'<p class="error" role="alert">{escape(error_message)}</p>' if error_message else ""
    body = (
        "<h1>Sign in</h1>"
        f"<p>to continue to <strong>{escape(client_name)}</strong></p>{error}"
        f'<form method="post" action="{escape(action)}">'
        f"{_hidden('ctx', ctx)}{_hidden('csrf', csrf)}"
        '<label for="login">Email or user name</label>'
        f'<input type="email" id="login" name="login" value="{escape(user_name)}" '
        f'placeholder="someone@{escape(tenant_domain)}" autocomplete="username" required autofocus>'
        '<label for="passwd">Password</label>'
        '<input type="password" id="passwd" name="passwd" autocomplete="current-password" required>'
        '<button type="submit">Sign in</button></form>'
        '<p class="note">Sandbox sign-in: the passwords are in the sandbox state directory.</p>'
    )
    return _document("Sign in to your account", body)


def consent_page(
    *, action: str, ctx: str, csrf: str, client_name: str, user_name: str, resource: str, permission: str
) -> str:
    """:param action: where the form posts (``/{tenant}/consent``).
    :param ctx: the sign-in transaction id.
    :param csrf: the anti-forgery value, also set as a cookie.
    :param client_name: the application asking.
    :param user_name: the signed-in user.
    :param resource: the API it asks for.
    :param permission: the delegated permission.
    :returns: the consent page with Accept (``decision=accept``) and Cancel (``decision=cancel``).
    """
    body = (
        "<h1>Permissions requested</h1>"
        f"<p><strong>{escape(client_name)}</strong> wants to:</p>"
        f"<ul><li>Access <strong>{escape(resource)}</strong> as you ({escape(permission)})</li>"
        "<li>Maintain access to data you have given it access to</li></ul>"
        f'<p class="note">Signed in as {escape(user_name)}.</p>'
        f'<form method="post" action="{escape(action)}">'
        f"{_hidden('ctx', ctx)}{_hidden('csrf', csrf)}"
        '<button type="submit" name="decision" value="accept">Accept</button>'
        '<button type="submit" name="decision" value="cancel">Cancel</button></form>'
    )
    return _document("Permissions requested", body)


def error_page(*, code: int, description: str) -> str:
    """:param code: the AADSTS number.
    :param description: the full ``error_description`` (with trace and correlation ids).
    :returns: the page Entra shows when it cannot redirect back (e.g. AADSTS50011).
    """
    body = (
        "<h1>Sorry, but we're having trouble signing you in.</h1>"
        f'<p class="error" id="error-code">AADSTS{code}</p>'
        f'<pre id="error-description">{escape(description)}</pre>'
    )
    return _document("Sign in error", body)


def form_post_page(*, action: str, params: Mapping[str, str], nonce: str) -> str:
    """:param action: the redirect URI.
    :param params: the response parameters (``code``, ``state``, or ``error``…).
    :param nonce: the CSP nonce allowing the auto-submit script.
    :returns: a page that posts ``params`` to ``action`` (a button does it without script).
    """
    fields = "".join(_hidden(name, value) for name, value in params.items())
    body = (
        f'<form method="post" action="{escape(action)}">{fields}'
        "<noscript><p>Script is disabled. Click Submit to continue.</p></noscript>"
        '<button type="submit">Submit</button></form>'
        f'<script nonce="{escape(nonce)}">document.forms[0].submit();</script>'
    )
    return _document("Working...", body)
