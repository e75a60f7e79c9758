import numpy as np
import pytest

from gencurate.arrays import check_image_array


def test_check_image_array_accepts_uint8_nhwc_and_names_where_otherwise():
    good = np.zeros((2, 4, 4, 3), np.uint8)
    assert check_image_array(good, where="x") is good
    with pytest.raises(ValueError, match=r"samples\.npy: expected uint8 images .* got float32 \(2, 4, 4, 3\)"):
        check_image_array(good.astype(np.float32), where="samples.npy")
    with pytest.raises(ValueError, match="got uint8 \\(4, 4, 3\\)"):
        check_image_array(good[0], where="x")
    with pytest.raises(ValueError, match=r"C in \(1,\)"):
        check_image_array(good, where="x", channels=(1,))
