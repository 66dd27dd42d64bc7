"""OAuth 2.0 for the connector: settings of the OAuth tab, grants, the JWT client assertion and the token lifecycle.

Importing this package is cheap; modules that need ``cryptography`` or ``requests_oauthlib`` import them when a token
is first needed.
"""
