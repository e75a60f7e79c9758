"""The manifest schema: its ids-equal-rows check and the split names splits.py draws."""

from __future__ import annotations

import numpy as np
import pytest

from gencurate.data import schema, splits


def test_ids_must_be_the_row_numbers():
    schema.check_ids_are_rows(np.arange(5, dtype=np.int64), manifest_path="m.parquet")
    schema.check_ids_are_rows(np.zeros(0, dtype=np.int64), manifest_path="m.parquet")
    for ids in (np.array([0, 2, 1]), np.array([1, 2, 3]), np.array([0, 1, 1])):
        with pytest.raises(ValueError, match=r"^m\.parquet: ids must equal row numbers; rerun prepare$"):
            schema.check_ids_are_rows(ids, manifest_path="m.parquet")


def test_schema_names_are_the_ones_splits_and_the_manifest_use():
    assert splits.SPLITS is schema.SPLITS == ("train", "reference", "validation")
    assert schema.MANIFEST_COLUMNS[0] == schema.ID == "id" and schema.SPLIT in schema.MANIFEST_COLUMNS
    assert len(set(schema.MANIFEST_COLUMNS)) == len(schema.MANIFEST_COLUMNS)


def test_arrays_must_have_one_row_per_manifest_row():
    from gencurate.data.schema import check_one_row_per_manifest_row

    check_one_row_per_manifest_row(5, manifest_rows=5, what="e.npy", manifest_path="m.parquet")
    with pytest.raises(ValueError, match=r"^e\.npy has 4 rows but m\.parquet has 5; rerun the stages after prepare$"):
        check_one_row_per_manifest_row(4, manifest_rows=5, what="e.npy", manifest_path="m.parquet")
