"""The search for repeated records: the extracted customers who share a record hash with someone else.

Each customer's record hash (six discriminating columns, hashed by source.customer_record_hash as the
record is written, copied or computed by the extract) and id are read out by binary COPY
(sql/validation/record_hashes.sql) and sorted here, where numpy sorts 64-bit integers several
times faster than PostgreSQL sorts tuples of them. The pairs go to one of 2^k files by their hash's top
bits as they arrive, and each file is sorted alone (customers who share a hash share its top bits), so
memory stays at about a million pairs whatever the number of customers. The candidates are a superset of
the duplicates: sql/validation/duplicate_groups.sql compares their records whole.
"""

from __future__ import annotations

import math
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine

from tasks.extract.customers import EXTRACT_TABLE
from tasks.db.sql import estimated_rows, sql_file, stream_arrays

HASHED_PAIR = np.dtype([("record_hash", "<i8"), ("customer_id", "<i8")])
PAIRS_PER_FILE = 1_000_000  # 16 MB of pairs, sorted at once


def candidate_duplicate_ids(engine: Engine) -> np.ndarray:
    """Ids of the extract's customers whose record hash another customer's shares (any order).

    The extract's estimated row count (from its statistics) sets how many files the pairs are spread over: a
    wrong estimate costs memory, not correctness."""
    with engine.connect() as connection:
        expected_customers = estimated_rows(connection, EXTRACT_TABLE)
    top_bits = max(0, math.ceil(math.log2(max(expected_customers, 1) / PAIRS_PER_FILE)))
    with tempfile.TemporaryDirectory(prefix="segments-record-hashes-") as scratch:
        paths = [Path(scratch) / f"{number}.pairs" for number in range(1 << top_bits)]
        with ExitStack() as files:
            handles = [files.enter_context(path.open("wb")) for path in paths]
            for batch in stream_arrays(engine, sql_file("validation/record_hashes.sql"),
                                       {"record_hash": "i8", "customer_id": "i8"}):
                _spread_by_top_bits(batch["record_hash"], batch["customer_id"], top_bits, handles)
        return np.concatenate([np.empty(0, dtype=np.int64)]
                              + [_sharing_a_hash(np.fromfile(path, dtype=HASHED_PAIR)) for path in paths])


def _spread_by_top_bits(hashes: np.ndarray, ids: np.ndarray, top_bits: int, handles: list) -> None:
    pairs = np.empty(len(hashes), dtype=HASHED_PAIR)
    pairs["record_hash"], pairs["customer_id"] = hashes, ids
    if top_bits == 0:
        pairs.tofile(handles[0])
        return
    file_numbers = (hashes.view(np.uint64) >> np.uint64(64 - top_bits)).astype(np.intp)
    order = np.argsort(file_numbers, kind="stable")
    ends = np.cumsum(np.bincount(file_numbers, minlength=len(handles)))
    for handle, part in zip(handles, np.split(pairs[order], ends[:-1]), strict=True):
        part.tofile(handle)


def _sharing_a_hash(pairs: np.ndarray) -> np.ndarray:
    """The ids of the pairs whose hash appears more than once."""
    order = np.argsort(pairs["record_hash"])
    hashes = pairs["record_hash"][order]
    repeats = hashes[1:] == hashes[:-1]
    shared = np.zeros(len(hashes), dtype=bool)
    shared[1:] = repeats
    shared[:-1] |= repeats
    return pairs["customer_id"][order[shared]]
