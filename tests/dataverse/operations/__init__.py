"""Tests of dataverse operations."""
