"""The sinusoidal schedule alpha(t) = A' K sin(pi t / T)."""
import math

import pytest

from mmpretrain_osdtw.models.more import rebalance_alpha, schedule_factor


def test_sine_at_start_middle_end():
    # A' = 2, K = 10 -> peak A = 20 at T/2, zero at 0 and T.
    assert rebalance_alpha(0, 100, 2.0, 10) == 0.0
    assert rebalance_alpha(50, 100, 2.0, 10) == pytest.approx(20.0)
    assert rebalance_alpha(100, 100, 2.0, 10) == pytest.approx(0.0, abs=1e-12)
    assert rebalance_alpha(25, 100, 2.0,
                           10) == pytest.approx(20.0 * math.sin(math.pi / 4))


def test_odd_length_is_symmetric():
    values = [rebalance_alpha(t, 7, 1.0, 4) for t in range(8)]
    assert values == pytest.approx(values[::-1])
    assert max(values) < 4.0


@pytest.mark.parametrize('shape, expected', [
    ('sine', (0.0, 1.0, 0.0)),
    ('constant', (1.0, 1.0, 1.0)),
    ('linear', (0.0, 0.5, 1.0)),
    ('cosine_ramp', (0.0, 0.5, 1.0)),
])
def test_shapes(shape, expected):
    values = [schedule_factor(p, shape) for p in (0.0, 0.5, 1.0)]
    assert values == pytest.approx(expected, abs=1e-12)


def test_bad_values_are_named():
    with pytest.raises(ValueError, match=r'amplitude must be .*-0\.5'):
        rebalance_alpha(0, 10, -0.5, 3)
    with pytest.raises(ValueError, match='step t=11 is outside 0..10'):
        rebalance_alpha(11, 10, 1.0, 3)
    with pytest.raises(ValueError, match='T must be >= 1'):
        rebalance_alpha(0, 0, 1.0, 3)
    with pytest.raises(ValueError, match="shape must be one of.*'cos'"):
        schedule_factor(0.5, 'cos')
    with pytest.raises(TypeError, match='amplitude must be a number'):
        rebalance_alpha(0, 10, '2', 3)
