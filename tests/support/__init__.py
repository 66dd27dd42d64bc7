"""Helpers and fixture modules shared by the test folders; the fixtures are registered once, in tests/conftest.py."""
