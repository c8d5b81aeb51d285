"""The exception type for wrong user input, below every layer that raises
it (datasets, models, apis)."""


class InputError(ValueError):
    """The user's input is wrong: a config, its data, a checkpoint or class
    counts. The message says what and where, in one line; ``tools/train.py``
    and ``tools/test.py`` print it and exit with code 2, without a
    traceback. Any other exception is a bug and keeps its traceback.
    """
