"""The Dataverse Web API side of the connector: OData request building, the operations, bulk work and browse."""
