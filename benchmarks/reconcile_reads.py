"""What one Reconcile run reads of the ledger: the sparse open-rows index against a scan of the
whole table, for ledgers of N rows of which W are watched (moto's DynamoDB, in-process).

    .venv/bin/python benchmarks/reconcile_reads.py [--rows 1000 10000] [--watched 40]

Prints, per N: items read by the index query (Ledger.active_rows) and by a scan with the
filter the query replaced (ScannedCount: DynamoDB bills what it reads, whatever the filter
keeps), and the time of each read against moto (a local stand-in: the ratio, not the
milliseconds, carries to AWS).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGION = "us-east-1"


def _table(ddb: object, name: str) -> None:
    ddb.create_table(  # type: ignore[attr-defined]
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": a, "AttributeType": "S"}
            for a in ("job_name", "execution_arn", "created_at", "reconcile_watch")
        ],
        KeySchema=[{"AttributeName": "job_name", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": "created_at", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, hash_key in (("by_execution", "execution_arn"), ("open_rows", "reconcile_watch"))
        ],
    )


def measure(rows: int, watched: int) -> dict[str, object]:
    import boto3

    from dtrain.orchestration.ledger import Ledger

    ddb = boto3.client("dynamodb", region_name=REGION)
    name = f"ledger-{rows}"
    _table(ddb, name)
    ledger = Ledger(name, client=ddb)
    for i in range(rows):
        job = f"job-{i:06d}"
        ledger.put_submitted(
            job_name=job,
            execution_arn=f"arn:aws:states:{REGION}:123456789012:execution:sm:run-{i}",
            execution_name=f"run-{i}",
            task_token="t",
            spec_digest="d",
            spec_summary="s",
        )
        if i >= watched:
            ledger.mark_closed(job, "Completed")
    ledger.items_read = 0
    start = time.perf_counter()
    found = len(ledger.active_rows())
    query_s, query_items = time.perf_counter() - start, ledger.items_read
    ledger.items_read = 0
    start = time.perf_counter()
    scanned = [r for r in ledger._scan() if r.is_open or r.status in ("Submitting", "InProgress", "Stopping")]
    scan_s, scan_items = time.perf_counter() - start, ledger.items_read
    assert found == len(scanned) == watched
    return {
        "rows": rows,
        "watched": watched,
        "index_query_items_read": query_items,
        "scan_items_read": scan_items,
        "index_query_ms": round(query_s * 1000, 1),
        "scan_ms": round(scan_s * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--watched", type=int, default=40)
    args = parser.parse_args()
    from moto import mock_aws

    with mock_aws():
        for rows in args.rows:
            print(json.dumps(measure(rows, args.watched)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
