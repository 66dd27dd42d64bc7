"""Example settings shared by several test files; each secret is a canary value no output may contain."""

from __future__ import annotations

from typing import Any, Final

CANARY_SECRET: Final = "canary-secret-7f3a9c"
CANARY_PROXY_PASSWORD: Final = "canary-proxy-pw-51d2"

CLIENT_SECRET_SETTINGS: Final[dict[str, Any]] = {
    "connection": {
        "protocol": "https",
        "base_url": "contoso.crm.dynamics.com",
        "web_api_path": "/api/data/",
        "version": "v9.2",
    },
    "oauth2": {
        "grant_type": "client_credentials",
        "client_assertion_type": "client_secret",
        "client_id": "535fb089-9ff3-47b6-9bfb-4f1264799865",
        "client_secret": CANARY_SECRET,
        "access_token_url": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token",
        "access_token_parameters": [{"name": "resource", "value": "https://contoso.crm.dynamics.com"}],
    },
}

SEVERAL_BAD_FIELDS: Final[dict[str, Any]] = {
    "connection": {"protocol": "ftp", "base_url": "https://contoso.crm.dynamics.com/api", "version": "9.2"},
    "oauth2": {
        "grant_type": "client_credentials",
        "client_id": "",
        "access_token_url": "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token",
    },
}
SEVERAL_BAD_FIELDS_PATHS: Final = {
    "connection.protocol",
    "connection.base_url",
    "connection.version",
    "oauth2.client_id",
    "oauth2.client_secret",
}
