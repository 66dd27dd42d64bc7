"""Bulk Create, Update and Upsert: planning, chunking, the $batch wire format, sending within an adaptive concurrency
limit.
"""
