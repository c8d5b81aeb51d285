import pytest

from mmpretrain_osdtw.utils import check_int


def test_check_int_accepts_and_returns():
    assert check_int('n', 3, 1) == 3
    assert check_int('seed', 0, 0) == 0


@pytest.mark.parametrize('value', [0, -1, 1.0, True, '2', None])
def test_check_int_names_the_argument(value):
    with pytest.raises(ValueError) as info:
        check_int('chunk_size', value, 1, 'FisherHook: ')
    assert str(info.value) == (
        f'FisherHook: chunk_size must be an int >= 1, got {value!r}')
