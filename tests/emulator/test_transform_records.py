"""How the emulator's batch transform cuts an input object into requests: SplitType Line, RecordIO and
None, BatchStrategy MultiRecord within MaxPayloadInMB (dtrain.emulator.hosting.split_records,
batches). Pure functions: the jobs that send these requests are tests/emulator/test_hosting.py's.
"""

from __future__ import annotations

import struct

import pytest

from dtrain.emulator.hosting import RECORDIO_MAGIC, HostingFailed, batches, join_batch, split_records

MB = 1024 * 1024


def frame(data: bytes, flag: int = 0) -> bytes:
    """One RecordIO part: magic, flag and length, the data padded to 4 bytes (dmlc-core recordio.h)."""
    return struct.pack("<II", RECORDIO_MAGIC, (flag << 29) | len(data)) + data + b"\0" * (-len(data) % 4)


def test_recordio_records_keep_their_framing_and_a_split_record_is_one() -> None:
    whole = frame(b'{"x": 1}')
    parts = frame(b"abc", 1) + frame(b"defgh", 2) + frame(b"ij", 3)  # one record in three parts
    body = whole + parts + frame(b"")
    assert split_records(body, "RecordIO") == [whole, parts, frame(b"")]
    assert join_batch(split_records(body, "RecordIO"), "RecordIO") == body


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"x": 1}\n', "no RecordIO magic at byte 0"),
        (frame(b"abcd") + b"\x0a\x23", "truncated record header at byte 12"),
        (frame(b"abcdefgh")[:-4], "runs past the end"),
    ],
)
def test_input_that_is_not_recordio_fails_the_job_naming_the_byte(body: bytes, error: str) -> None:
    with pytest.raises(HostingFailed, match=error):
        split_records(body, "RecordIO")


def test_line_and_none_splits() -> None:
    assert split_records(b'{"x": 1}\n\n{"x": 2}\n', "Line") == [b'{"x": 1}', b'{"x": 2}']
    assert split_records(b"a\nb", "None") == [b"a\nb"]
    with pytest.raises(HostingFailed, match="SplitType TFRecord is not emulated"):
        split_records(b"", "TFRecord")


def test_a_multirecord_batch_fills_max_payload_exactly_and_a_record_over_it_fails() -> None:
    half = b"x" * (MB // 2)
    # Line: two half-MB records and their newline are one byte over 1 MB: two requests.
    assert [len(b) for b in batches([half, half], "MultiRecord", 1, "Line")] == [1, 1]
    assert [len(b) for b in batches([half[:-1], half], "MultiRecord", 1, "Line")] == [2]
    # RecordIO records go back to back: exactly 1 MB is one request.
    assert [len(b) for b in batches([half, half], "MultiRecord", 1, "RecordIO")] == [2]
    assert [len(b) for b in batches([half, half + b"x"], "MultiRecord", 1, "RecordIO")] == [1, 1]
    with pytest.raises(HostingFailed, match=f"a record of {MB + 1} bytes exceeds MaxPayloadInMB 1"):
        list(batches([b"x" * (MB + 1)], "SingleRecord", 1, "Line"))
    assert len(next(batches([b"x" * MB], "SingleRecord", 1, "Line"))[0]) == MB  # at the limit: sent
    # MaxPayloadInMB 0: no limit (SageMaker's streaming)
    assert [len(b) for b in batches([half] * 5, "MultiRecord", 0, "Line")] == [5]
