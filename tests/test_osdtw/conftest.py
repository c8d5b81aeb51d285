import pytest
from _toy_stats import write_artifacts


@pytest.fixture
def artifacts(tmp_path):
    """Toy ``fisher_{head,tail,cross}.pth`` files: ``{key: path}``."""
    return write_artifacts(tmp_path)
