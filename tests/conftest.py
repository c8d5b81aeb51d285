import os
import sys
from pathlib import Path

import torch

# Tests run on small CPUs next to other work: one thread is both faster and
# steadier than two (see ../shared/docs/STACK_NOTES.md).
os.environ.setdefault('OMP_NUM_THREADS', '1')
torch.set_num_threads(1)

# Make `tests._shared` importable as `_shared` from every test folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))
