"""OData on the connector's side: literals and record addresses, structured filters, FetchXML paging, and reading the
Web API's answers.
"""
