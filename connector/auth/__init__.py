"""OAuth 2.0 for the connector: grants, the JWT client assertion and the token lifecycle.

The OAuth tab's settings are parsed below this package, in :mod:`connector.oauth_settings`, which both
:mod:`connector.settings` and these modules import.

Importing this package is cheap; the modules that need ``cryptography``, ``jwt`` or ``requests`` are imported when a
token is first needed (``docs/oauth.md``).
"""
