"""The growth bench's synthetic features: shaped like pooled ReLU features, and reproducible."""

import numpy as np
from synthetic import Generator, Shape


def test_rows_are_non_negative_float16_with_some_zeros_and_reproducible():
    gen = Generator(Shape(clusters=5, rank=3), dim=64)
    a, ca = gen.features(500, chunk=200)
    b, cb = Generator(Shape(clusters=5, rank=3), dim=64).features(500, chunk=200)
    assert a.dtype == np.float16 and a.shape == (500, 64)
    assert (a >= 0).all() and 0 < (a == 0).mean() < 1
    assert np.array_equal(a, b) and np.array_equal(ca, cb)
    assert set(ca.tolist()) <= set(range(5))
