"""The step-indexed batch order: epochs, resume continuity, rank partition; the image dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gencurate.diffusion.datamodule import ImageBatches, StepBatchSampler, batch_indices


def test_every_epoch_sees_every_image_once():
    batches = [batch_indices(s, num_items=10, batch_size=4, seed=0) for s in range(10)]  # 40 draws = 4 epochs
    stream = np.concatenate(batches)
    for epoch in range(4):
        assert sorted(stream[epoch * 10 : (epoch + 1) * 10].tolist()) == list(range(10))
    assert not np.array_equal(stream[:10], stream[10:20]), "each epoch has its own order"


def test_batch_larger_than_the_data_spans_several_epochs():
    idx = batch_indices(0, num_items=3, batch_size=9, seed=1)
    assert sorted(idx.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_order_depends_on_seed_only_through_the_seed():
    a = batch_indices(5, num_items=100, batch_size=8, seed=0)
    assert np.array_equal(a, batch_indices(5, num_items=100, batch_size=8, seed=0))
    assert not np.array_equal(a, batch_indices(5, num_items=100, batch_size=8, seed=1))


def test_sampler_resumed_at_step_k_continues_the_uninterrupted_order():
    full = list(StepBatchSampler(num_items=7, batch_size=3, seed=2, total_steps=12))
    step = {"now": 5}
    resumed = StepBatchSampler(num_items=7, batch_size=3, seed=2, total_steps=12, start_step=lambda: step["now"])
    assert len(resumed) == 12  # the whole run, as Lightning counts it
    assert [b.tolist() for b in resumed] == [b.tolist() for b in full[5:]]
    step["now"] = 11  # the start is read at each iter(), e.g. after a checkpoint restore
    assert [b.tolist() for b in resumed] == [full[11].tolist()]


def test_ranks_split_the_global_batch():
    single = batch_indices(3, num_items=50, batch_size=8, seed=0)
    parts = [batch_indices(3, num_items=50, batch_size=4, seed=0, rank=r, world_size=2) for r in range(2)]
    assert np.array_equal(np.concatenate(parts), single)


def test_image_batches_returns_nchw_uint8_batches():
    images = np.arange(2 * 3 * 3 * 1, dtype=np.uint8).reshape(2, 3, 3, 1)
    batch = ImageBatches(images)[np.array([1, 1, 0])]
    assert batch.shape == (3, 1, 3, 3) and batch.dtype == torch.uint8
    assert torch.equal(batch[2, 0], torch.from_numpy(images[0, :, :, 0]))
    with pytest.raises(ValueError, match="uint8"):
        ImageBatches(images.astype(np.float32))


def test_load_selected_images_takes_the_listed_rows(tmp_path):
    from gencurate.diffusion.datamodule import load_selected_images
    from gencurate.io import write_ids, write_npy

    images = np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1) * np.ones((1, 2, 2, 1), dtype=np.uint8)
    write_npy(tmp_path / "images.npy", images)
    write_ids(tmp_path / "sel.txt", [4, 1])
    out = load_selected_images(tmp_path / "images.npy", tmp_path / "sel.txt")
    assert out.shape == (2, 2, 2, 1) and out[:, 0, 0, 0].tolist() == [1, 4]
    write_ids(tmp_path / "bad.txt", [1, 5])
    with pytest.raises(ValueError, match="row indices"):
        load_selected_images(tmp_path / "images.npy", tmp_path / "bad.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_selected_images(tmp_path / "images.npy", tmp_path / "empty.txt")
