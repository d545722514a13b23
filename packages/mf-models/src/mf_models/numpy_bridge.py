"""MindSpore 2.10's numpy bridge, initialised quietly before any Parameter exists.

MindSpore's PyNative argument parser initialises its numpy bridge on first use; with numpy 2 that fails, and if
the first use comes after a Parameter was made the failure leaves a pending ImportError that breaks the next
op. Making the first use happen at import, before any Parameter, keeps it harmless; what the failure prints
(numpy's "compiled using NumPy 1.x" page with a traceback, MindSpore's "Numpy init failed" line) goes to
/dev/null: both write to file descriptor 2, so that is what is redirected.
"""

import contextlib
import io
import os

import mindspore as ms
from mindspore import ops

from mf_models.fd2 import fd2_to

_done = False


def init_numpy_bridge() -> None:
    """Run MindSpore's first op with file descriptor 2 sent to /dev/null (once per process)."""
    global _done
    if _done:
        return
    _done = True
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with fd2_to(devnull), contextlib.redirect_stderr(io.StringIO()):
            ops.zeros((1,), ms.int32)
    except SystemError:
        pass
    finally:
        os.close(devnull)
