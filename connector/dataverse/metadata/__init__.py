"""Table metadata: reading EntityDefinitions, the per-connection cache, browse and request/response profiles."""
