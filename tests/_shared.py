"""Where the tests find ``../shared`` (reference data beside the project).

A user's clone has no ``../shared``: tests that need it are skipped with the
reason. In CI (``CI`` set in the environment) the folder must be there, so a
missing folder fails instead of skipping silently.
"""
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / '..' / 'shared').resolve()


def shared_path(*parts: str) -> Path:
    """Path of a file under ``../shared``; skip (or fail in CI) if absent.

    Args:
        *parts (str): Path components below ``../shared``.

    Returns:
        Path: The existing path.
    """
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        reason = (f'{path} is absent: it holds the reference data of the '
                  'project (../shared beside the repository)')
        if os.environ.get('CI'):
            pytest.fail(f'CI must have the shared data: {reason}')
        pytest.skip(reason)
    return path
