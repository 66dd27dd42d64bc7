"""Tests of dataverse."""
