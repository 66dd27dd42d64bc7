"""A local Dataverse-compatible Web API with an Entra-compatible token service.

The embedded default that the demo, the tests and the benchmarks run against: no Dynamics 365 tenant is reachable
from our machines. This package is an independent implementation of the service, written from the behavioural
reference; it never imports the connector's own code (``connector.*`` outside ``dataverse_sandbox``), so a test
cannot pass merely because both sides share a mistake.
"""
