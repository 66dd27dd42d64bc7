"""Partitioned reads: one query read as disjoint primary-key ranges, concurrently, under an adaptive concurrency
limit.

* :mod:`~connector.dataverse.partitions.keys`: key ranges in SQL Server's ``uniqueidentifier`` order;
* :mod:`~connector.dataverse.partitions.ranges`: a query restricted to a key range (OData or FetchXML), and what
  can be partitioned;
* :mod:`~connector.dataverse.partitions.plan`: :func:`plan_partitions`, the ranges a distributed engine's tasks
  read;
* :mod:`~connector.dataverse.partitions.reader`: the concurrent reader behind the Query option ``parallel``;
* :mod:`~connector.dataverse.partitions.ahead`: the first page requested while the table's metadata is read.
"""
