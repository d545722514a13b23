"""Explicit broadcasting before large element-wise products and sums.

MindSpore 2.10's CPU kernel for a binary op whose inputs differ in shape (other than a 0-d scalar) keeps about
four times its output's size for as long as the compiled graph lives, and runs slower than the same-shape op:
nine products of a (2048, 4096) float32 tensor by a (2048, 1) column kept 1.05 GB more, and took 1.2x as long,
as with the column broadcast first. The backward pass of a broadcasting product broadcasts too. ``broadcast_to``
first costs one full-size temporary, freed after use, and its gradient is a sum. Small results (a decode step's)
keep the implicit broadcast: one kernel fewer.
"""

from mindspore import ops

EXPLICIT_FROM = 1 << 16  # elements of the result


def expand(t, shape):
    """``t`` broadcast to ``shape`` when that has at least ``EXPLICIT_FROM`` elements, else ``t`` itself."""
    size = 1
    for n in shape:
        size *= n
    return ops.broadcast_to(t, shape) if size >= EXPLICIT_FROM else t
