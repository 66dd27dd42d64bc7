"""Tests of dataverse odata."""
