"""Tests of dataverse bulk."""
