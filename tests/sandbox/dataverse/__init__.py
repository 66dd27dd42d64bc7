"""Tests of sandbox dataverse."""
