"""Tests of sandbox entra."""
