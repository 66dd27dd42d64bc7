"""Tests of the PySpark data source, in one local Spark session against the sandbox."""
