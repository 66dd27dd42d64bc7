"""Test Connection: the checks behind the ``test`` hook and the rendering of their report.

``plan.run_test_connection`` runs the checks of one connection in order: the network checks (``network``, with
``endpoint``, ``http_head``, ``proxy`` and ``tls``), the token and Web API checks (``service``, with ``refusals``),
all through the bounded runner (``report``). ``render`` turns any :class:`~connector.results.TestReport` into text
or JSON. Nothing is imported here, so that a host can use ``render`` and ``report`` without loading the connector's
OAuth and Web API code.
"""
