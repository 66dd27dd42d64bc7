"""The operations, one module each (Get, Create, Update/Upsert, Delete, Query, Execute, associations, change
tracking), and what every run shares: options, input documents and their keys, output records, outcomes (read-backs
of creates whose answer was lost included), progress.

Options are parsed once into a frozen object per operation (``options`` holds the parsing and the shared bases; Get,
Delete, Execute and the associations keep their class in their own module; Query's is ``query_options`` and
Create/Update/Upsert's ``write_options``, because several modules read them).
"""
