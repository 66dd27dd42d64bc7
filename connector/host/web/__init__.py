"""The web reference host (``connector ui``): a page on this machine to fill a connector's forms, save the config,
sign in, run Test Connection, browse and preview records, for people who would rather click than type.

:mod:`~connector.host.web.server` serves it on loopback behind a one-time token; ``form_parts`` finds the tabs (the
connector's schemas and UI schemas, the host's runtime settings); ``config_form`` reads and writes the config file
with secrets as references; ``actions`` calls the hooks. The page itself is a small react-jsonschema-form program
built from ``frontend/`` into ``static/`` (committed, shipped in the wheel, no CDN at run time).
"""

from __future__ import annotations

import webbrowser

from connector.host.web.server import WebHost

__all__ = ["WebHost", "open_in_browser"]


def open_in_browser(url: str) -> bool:
    """Open a URL in the person's browser, when this machine has one.

    :returns: whether a browser was started.
    """
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False  # a server or a container: the URL is printed instead
    return webbrowser.open(url)
