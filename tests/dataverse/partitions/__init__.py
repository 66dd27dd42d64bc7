"""Tests of dataverse partitions."""
