"""Tests of dataverse metadata."""
