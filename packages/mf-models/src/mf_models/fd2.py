"""File descriptor 2 sent elsewhere for a block: MindSpore's C++ log and numpy's import errors write there
directly, past ``sys.stderr``."""

import os
import sys
from contextlib import contextmanager


@contextmanager
def fd2_to(fd: int):
    """File descriptor 2 is ``fd`` inside the block and what it was after it (Python's buffer flushed both ways)."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
