"""The conformance suite any host can run against an installed connector; see :mod:`connector.testing.suite`."""

from connector.testing.suite import ConnectorConformance, OperationSample

__all__ = ["ConnectorConformance", "OperationSample"]
