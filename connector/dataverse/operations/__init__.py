"""The operations, one module each (Get, Create/Update/Upsert, Delete, Query, Execute, associations, change tracking),
and what every run shares: options, input documents, output records, outcomes, progress.
"""
