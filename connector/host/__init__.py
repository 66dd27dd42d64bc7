"""The reference host: how a host integration runtime loads and drives connectors.

It reaches connectors only through the entry-point group and the hooks, exactly as a third-party host would: it
never imports a connector's plugin, auth or Web API modules directly.
"""
