"""The test suite: its folders mirror the packages (see docs/testing.md)."""
