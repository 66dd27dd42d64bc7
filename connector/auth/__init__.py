"""OAuth 2.0 for the connector: settings of the OAuth tab, grants, the JWT client assertion and the token lifecycle.

Importing this package is cheap; the modules that need ``cryptography``, ``jwt`` or ``requests`` are imported when a
token is first needed (``docs/oauth.md``).
"""
