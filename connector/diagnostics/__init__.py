"""Test Connection: the checks behind the ``test`` hook and the rendering of their report.

``plan.run_test_connection`` runs the checks of one connection in order: the network checks (``network``, with
``endpoint``, ``http_head``, ``proxy`` and ``tls``), the token and Web API checks (``service``, with ``refusals``),
all through the bounded runner (``report``). Rendering a report for people is the host's
(:mod:`connector.host.report_view`). Nothing is imported here, so that importing the package loads none of the
connector's OAuth and Web API code.
"""
