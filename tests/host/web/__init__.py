"""Tests of the web reference host (connector ui), in a real browser."""
