"""Validated, immutable connection settings: API root, time-outs, proxy, TLS trust and the OAuth settings.

Settings are parsed once, from the dict the host stored (``{"connection": {...}, "oauth2": {...}}``) and the runtime
context, into a :class:`ConnectionSettings`; every later step reads that object, never the raw dict. Parsing checks
the JSON Schemas first and then what a schema cannot say (a scheme inside the base URL, a ``..`` segment), and
reports every bad field at once in one :class:`~connector.errors.ConfigError`.

The OAuth 2.0 tab is parsed by :mod:`connector.oauth_settings` (its rules and dataclasses live there, not in
``connector.auth``, so this module imports nothing of ``auth``). This module does no network I/O and opens no
session; ``transport`` does that with these settings.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

from connector.context import ProxySettings, RuntimeContext
from connector.errors import ConfigError, FieldError
from connector.oauth_settings import OAuthSettings, parse_oauth_settings
from connector.resources import load_schema
from connector.results import Diagnostic
from connector.secrets import Secret
from connector.validation import schema_field_errors

__all__ = [
    "DEFAULT_TIMEOUT_MS",
    "ConnectionSettings",
    "ProxyPolicy",
    "Timeouts",
    "compose_api_root",
    "parse_settings",
    "resolve_timeout",
]

DEFAULT_TIMEOUT_MS: Final = 120_000
"""The time-out used when neither the connection nor the runtime sets one (Boomi's runtime default)."""

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_VERSION = re.compile(r"^v([0-9]+)\.([0-9]+)/?$")
_PATH = re.compile(r"^[A-Za-z0-9/._~-]*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Timeouts:
    """Time-outs in seconds for one request; ``None`` waits indefinitely (the user asked for ``0``).

    :param connect: time allowed to establish the connection.
    :param read: time allowed between bytes of the response.
    """

    connect: float | None
    read: float | None

    def as_requests(self) -> tuple[float | None, float | None]:
        """:returns: the ``(connect, read)`` tuple ``requests`` takes."""
        return (self.connect, self.read)


def resolve_timeout(value_ms: int | None, runtime_ms: int | None) -> float | None:
    """Apply Boomi's time-out rules.

    :param value_ms: the connection's field: ``None`` (blank), ``0``, negative or positive milliseconds.
    :param runtime_ms: the runtime's network time-out, or ``None`` when the runtime sets none.
    :returns: seconds, or ``None`` to wait indefinitely. Blank and negative fall back to the runtime's value, then
        to :data:`DEFAULT_TIMEOUT_MS`, never to "no time-out".
    """
    if value_ms is None or value_ms < 0:
        fallback = runtime_ms if runtime_ms is not None and runtime_ms > 0 else DEFAULT_TIMEOUT_MS
        return fallback / 1000
    if value_ms == 0:
        return None
    return value_ms / 1000


def _is_link_local(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_link_local
    except ValueError:
        return False


@dataclass(frozen=True)
class ProxyPolicy:
    """Whether and how requests go through the runtime's proxy.

    :param enabled: the connection honours the runtime proxy and the runtime has one.
    :param host: the proxy host.
    :param port: the proxy port.
    :param user: the proxy user, if any.
    :param password: the proxy password (secret), if any.
    :param non_proxy_patterns: lower-case host patterns (``*`` wildcards) reached directly.
    """

    enabled: bool = False
    host: str | None = None
    port: int = 80
    user: str | None = None
    password: Secret | None = None
    non_proxy_patterns: tuple[str, ...] = ()

    @classmethod
    def from_runtime(cls, honor: bool, proxy: ProxySettings) -> ProxyPolicy:
        """:returns: the policy for a connection's honour flag and the runtime's proxy settings."""
        if not honor or not proxy.host:
            return cls()
        patterns = tuple(p.strip().lower() for p in proxy.non_proxy_hosts.split("|") if p.strip())
        return cls(True, proxy.host, proxy.port, proxy.user or None, proxy.password, patterns)

    def bypasses(self, host: str) -> bool:
        """:returns: whether a host matches the non-proxy list (case-insensitive, ``*`` wildcards), or is a
        link-local address (the instance metadata service, 169.254.169.254, answers only on the machine's own link:
        no proxy can reach it for us).
        """
        name = host.lower().strip("[]")
        if _is_link_local(name):
            return True
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.non_proxy_patterns)

    def proxies_for(self, url: str) -> dict[str, str]:
        """The ``proxies`` mapping for ``requests``: empty means connect directly.

        :param url: the URL about to be requested.
        :returns: ``{"http": proxy_url, "https": proxy_url}`` or ``{}``. The proxy URL carries the credentials:
            never log it.
        """
        host = urlsplit(url).hostname or ""
        if not self.enabled or self.bypasses(host):
            return {}
        credentials = ""
        if self.user:
            password = self.password.reveal() if self.password else ""
            credentials = f"{quote(self.user, safe='')}:{quote(password, safe='')}@"
        proxy_url = f"http://{credentials}{self.host}:{self.port}"
        return {"http": proxy_url, "https": proxy_url}


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything a connection needs, validated and normalised.

    :param protocol: ``https`` or ``http``.
    :param host: the base URL's host, with its port when one was given.
    :param web_api_path: normalised, with leading and trailing slashes (``/api/data/``).
    :param version: ``v<major>.<minor>``.
    :param api_root: protocol + host + path + version + ``/``.
    :param timeouts: resolved time-outs.
    :param proxy: the proxy policy.
    :param ca_bundle: the trusted CA bundle from the runtime, or ``None`` for the platform's.
    :param oauth: the OAuth settings.
    :param diagnostics: warnings about the settings.
    """

    protocol: Literal["https", "http"]
    host: str
    web_api_path: str
    version: str
    api_root: str
    timeouts: Timeouts
    proxy: ProxyPolicy
    ca_bundle: str | None
    oauth: OAuthSettings
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def origin(self) -> str:
        """The Web API's origin (``https://contoso.crm.dynamics.com``), which is also its OAuth resource URI."""
        return f"{self.protocol}://{self.host}"


def compose_api_root(
    protocol: str, base_url: str, web_api_path: str, version: str, *, skip: Collection[str] = ()
) -> tuple[str, list[FieldError]]:
    """Compose the API root and check each part.

    :param protocol: ``https`` or ``http``.
    :param base_url: the host (and optional port), without scheme or path; one trailing slash is tolerated.
    :param web_api_path: the Web API path; slashes are normalised.
    :param version: ``v<major>.<minor>``, optionally with a trailing slash.
    :param skip: field paths already known to be bad; they are not checked again.
    :returns: the API root (e.g. ``http://boomi.crm.dynamics.com/api/data/v9.0/``) and the field errors found;
        the root is empty when any part is bad.
    """
    checks = {
        "connection.base_url": _base_url_problems(base_url),
        "connection.web_api_path": _path_problems(web_api_path),
        "connection.version": [] if _VERSION.fullmatch(version.strip()) else [f"must look like v9.2 (got {version!r})"],
    }
    errors = [
        FieldError(path, message) for path, messages in checks.items() if path not in skip for message in messages
    ]
    if errors or set(checks) & set(skip):
        return "", errors
    host = base_url.strip().rstrip("/")
    segments = [segment for segment in web_api_path.strip().split("/") if segment]
    path = "/" + "/".join(segments) + "/" if segments else "/"
    return f"{protocol}://{host}{path}{version.strip().rstrip('/')}/", []


def _base_url_problems(base_url: str) -> list[str]:
    value = base_url.strip()
    if "://" in value:
        return [f"must be the host name only, without a scheme: choose the scheme under Protocol (got {base_url!r})"]
    if any(character.isspace() for character in value):
        return [f"must not contain spaces (got {base_url!r})"]
    value = value.removesuffix("/")
    if "@" in value:
        return ["must be the host name only, without a user name or password"]
    if any(character in value for character in "/?#\\"):
        return [f"must be the host name only, without a path, query or user (got {base_url!r})"]
    host, port = _split_port(value)
    problems = []
    if port is not None and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        problems.append(f"has a port that is not a number from 1 to 65535 (got {port!r})")
    if host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            problems.append(f"is not a valid host name: brackets must hold an IPv6 address (got {host!r})")
        return problems
    labels = host.split(".")
    if not host or ".." in host or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        problems.append(f"is not a valid host name (got {host!r})")
    return problems


def _split_port(value: str) -> tuple[str, str | None]:
    if value.startswith("["):
        host, _, rest = value.partition("]")
        return host + "]", rest[1:] if rest.startswith(":") else None
    if ":" in value:
        host, _, port = value.rpartition(":")
        return host, port
    return value, None


def _path_problems(web_api_path: str) -> list[str]:
    value = web_api_path.strip()
    if any(character.isspace() for character in value):
        return [f"must not contain spaces (got {web_api_path!r})"]
    if any(character in value for character in "?#"):
        return [f"must be a path only, without a query or fragment (got {web_api_path!r})"]
    if any(segment in {".", ".."} for segment in value.split("/")):
        return [f"must not contain '.' or '..' segments (got {web_api_path!r})"]
    if not _PATH.fullmatch(value):
        return [f"must be a URL path of letters, digits and / - . _ ~ (got {web_api_path!r})"]
    return []


def _text_problems(value: Any, path: str) -> list[FieldError]:
    """:returns: a field error for every string (keys included) that is not plain Unicode text: a lone surrogate
    (valid JSON, but no encoding can send it) or a control character other than tab and line ends. The value is
    never quoted: the field may be a secret.
    """
    if isinstance(value, str):
        if any(0xD800 <= ord(character) <= 0xDFFF for character in value):
            return [FieldError(path, "contains a character that is not valid Unicode (a lone surrogate)")]
        if _CONTROL.search(value):
            return [FieldError(path, "contains a control character")]
        return []
    if isinstance(value, Mapping):
        problems = []
        for key, child in value.items():
            child_path = f"{path}.{key}" if isinstance(key, str) and not _text_problems(key, path) else path
            problems += _text_problems(key, path) if isinstance(key, str) else []
            problems += _text_problems(child, child_path)
        return problems
    if isinstance(value, list):
        return [problem for index, child in enumerate(value) for problem in _text_problems(child, f"{path}[{index}]")]
    return []


def parse_settings(raw: Mapping[str, Any], context: RuntimeContext) -> ConnectionSettings:
    """Validate the settings as the host stored them.

    :param raw: ``{"connection": {...}, "oauth2": {...}}``.
    :param context: the runtime context (proxy, time-outs, CA bundle, callback URL).
    :returns: the immutable settings.
    :raises ConfigError: listing every bad field.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError.single("settings", "must be an object with 'connection' and 'oauth2'")
    errors: list[FieldError] = []
    connection_raw = raw.get("connection")
    oauth_raw = raw.get("oauth2")
    unknown = sorted(str(name) for name in set(raw) - {"connection", "oauth2"})
    errors.extend(FieldError(name, "is not a part of the settings") for name in unknown)
    if connection_raw is None:
        errors.append(FieldError("connection", "is required"))
        connection_raw = {}
    if oauth_raw is None:
        errors.append(FieldError("oauth2", "is required"))
        oauth_raw = {}
    errors.extend(schema_field_errors(connection_raw, load_schema("connection"), "connection"))
    errors.extend(schema_field_errors(oauth_raw, load_schema("oauth2"), "oauth2"))
    flagged = {error.path for error in errors}
    texts = [*_text_problems(connection_raw, "connection"), *_text_problems(oauth_raw, "oauth2")]
    errors.extend(problem for problem in texts if problem.path not in flagged)
    bad_fields = {error.path for error in errors}
    if not isinstance(connection_raw, Mapping) or not isinstance(oauth_raw, Mapping):
        raise ConfigError(sorted(errors, key=lambda error: error.path))

    protocol = connection_raw.get("protocol", "https")
    api_root, root_errors = compose_api_root(
        protocol if isinstance(protocol, str) and protocol in {"https", "http"} else "https",
        str(connection_raw.get("base_url", "")),
        str(connection_raw.get("web_api_path", "/api/data/")),
        str(connection_raw.get("version", "v9.2")),
        skip=bad_fields,
    )
    errors.extend(root_errors)
    oauth, oauth_errors = parse_oauth_settings(oauth_raw, context, skip=bad_fields)
    errors.extend(oauth_errors)
    if errors or oauth is None:
        raise ConfigError(sorted(errors, key=lambda error: error.path) or [FieldError("oauth2", "is invalid")])

    diagnostics: list[Diagnostic] = list(oauth.diagnostics)
    if protocol == "http":
        diagnostics.append(
            Diagnostic("warning", "connection.protocol", "http sends tokens and data unencrypted; use https")
        )
    honor = bool(connection_raw.get("honor_runtime_proxy", False))
    if honor and not context.proxy.host:
        diagnostics.append(
            Diagnostic("warning", "connection.honor_runtime_proxy", "the runtime has no proxy; connecting directly")
        )
    host = urlsplit(api_root).netloc
    runtime = context.network_timeouts
    return ConnectionSettings(
        protocol=protocol,
        host=host,
        web_api_path=urlsplit(api_root).path.rsplit("/", 2)[0] + "/",
        version=api_root.rstrip("/").rsplit("/", 1)[1],
        api_root=api_root,
        timeouts=Timeouts(
            connect=resolve_timeout(connection_raw.get("connect_timeout_ms"), runtime.connect_ms),
            read=resolve_timeout(connection_raw.get("read_timeout_ms"), runtime.read_ms),
        ),
        proxy=ProxyPolicy.from_runtime(honor, context.proxy),
        ca_bundle=context.ca_bundle,
        oauth=oauth,
        diagnostics=tuple(diagnostics),
    )
