"""What a partitioned read guarantees for records that change while it runs, shown on the reader itself (planned,
then each partition read, as Spark's tasks do) without a Spark session: a record created after planning is read
by the last partition, an updated record is read once, and no record is read twice.
"""

from __future__ import annotations

from collections import Counter

from connector.spark.partitions import RangePartition
from connector.spark.reader import Dynamics365Reader
from connector.spark.source import Dynamics365DataSource
from tests.support.operations import Live

SEEDED = 3000


def test_records_created_or_updated_during_the_read(spark_settings: str, spark_live: Live) -> None:
    source = Dynamics365DataSource(
        {"settings": spark_settings, "entity_set": "accounts", "select": "accountid,name", "num_partitions": "4"}
    )
    reader = source.reader(source.schema())
    assert isinstance(reader, Dynamics365Reader)
    partitions = reader.partitions()
    assert len(partitions) == 4
    before = {str(row["accountid"]) for row in spark_live.rows("account")}

    [created] = spark_live.run("create", {"entity_set": "accounts"}, [{"name": "created during the read"}])
    updated_id = sorted(before)[0]
    [updated] = spark_live.run(
        "update", {"entity_set": "accounts"}, [{"@odata.editLink": f"accounts({updated_id})", "name": "updated"}]
    )
    assert created.ok
    assert updated.ok

    seen: Counter[str] = Counter()
    found_in: dict[str, int] = {}
    names: dict[str, str] = {}
    for partition in partitions:
        assert isinstance(partition, RangePartition)
        for batch in reader.read(partition):
            for row in batch.to_pylist():
                seen[row["accountid"]] += 1
                found_in[row["accountid"]] = partition.index
                names[row["accountid"]] = row["name"]
    assert set(seen) == before | {created.properties["id"]}
    assert set(seen.values()) == {1}
    assert found_in[created.properties["id"]] == len(partitions) - 1
    assert names[updated_id] == "updated"
