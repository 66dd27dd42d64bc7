"""The ``authorize`` hook's work: one function that runs an authorization step on a connection.

``"token"`` gets a new token set with the configured grant (client credentials, or a refresh of the stored
authorization-code tokens); ``"start"`` begins the authorization-code grant; an
:class:`~connector.results.AuthorizationCallback` completes it. Every token set is saved in the runtime's token
store before it is returned.

Not for: anything beyond dispatching; the work is in ``tokens`` and ``grants``.
"""

from __future__ import annotations

from connector.auth.tokens import token_source_of
from connector.errors import ConfigError
from connector.oauth_settings import GRANT_TYPE_FIELD
from connector.results import AuthorizationCallback, AuthorizationStart, AuthorizationStep, Connection, TokenSet

__all__ = ["run_authorization_step"]


def run_authorization_step(connection: Connection, step: AuthorizationStep) -> TokenSet | AuthorizationStart:
    """Run one step of the authorization.

    :param connection: a connection from ``connect``.
    :param step: ``"token"``, ``"start"`` or an :class:`AuthorizationCallback`.
    :returns: a token set, or for ``"start"`` the URL to open with the state and PKCE verifier to keep.
    :raises AuthError: when the identity provider refuses (``field`` names the form field to fix; ``code`` is
        ``authorization_required`` when the user must authorize again).
    :raises TransientError: when the token service is unreachable or the token store fails.
    :raises ConfigError: for a step the grant does not have, or settings that cannot work (key, URL).
    """
    source = token_source_of(connection)
    grant = source.settings.grant_type
    if step == "token":
        return source.fetch()
    if step == "start" or isinstance(step, AuthorizationCallback):
        if grant != "authorization_code":
            raise ConfigError.single(
                GRANT_TYPE_FIELD, f"is {grant!r}: only the authorization code grant has start and callback steps"
            )
        return source.start_authorization() if step == "start" else source.complete_authorization(step)
    raise ConfigError.single("step", f"must be 'token', 'start' or an AuthorizationCallback (got {step!r})")
