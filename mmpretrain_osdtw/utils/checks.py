"""Argument checks shared by the plug-in's modules."""


def check_int(name: str, value, low: int, where: str = '') -> int:
    """Return ``value`` if it is an int (not a bool) ``>= low``.

    Args:
        name (str): The argument's name, for the message.
        value: The value to check.
        low (int): The smallest allowed value.
        where (str): Prefix of the message naming the owner (a class, a
            file), e.g. ``'FisherHook: '``. Defaults to none.

    Returns:
        int: ``value``.

    Raises:
        ValueError: ``'<where><name> must be an int >= <low>, got <value>'``.

    Example:
        >>> check_int('chunk_size', 4, 1)
        4
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f'{where}{name} must be an int >= {low}, got '
                         f'{value!r}')
    return value
