"""Internals of the sandbox's OData query-option compiler.

Import from :mod:`dataverse_sandbox.odata_query`, the public face; the modules here are split by concern (tokens,
syntax tree, parser, SQL conditions, functions, ``$orderby``/``$select``) and may change shape.
"""
