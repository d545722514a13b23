"""Which records a rank reads, in which order: seeded shuffling, per-rank sharding, skipping to a step.

The plan holds the record indices of each epoch; it is computed from the record count alone,
so skipping to a step never reads the records it skips.
"""

import numpy as np

from mf_data.errors import DataError


def epoch_order(num_records, epoch, shuffle, seed):
    """Record indices of one epoch: a permutation seeded by ``(seed, epoch)``, or in file order."""
    if not shuffle:
        return np.arange(num_records, dtype=np.int64)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(num_records).astype(np.int64)


def rank_share(order, rank_id, device_num, equal):
    """Rank ``rank_id``'s records of an epoch: every ``device_num``-th from ``rank_id`` on.

    Ranks together read every record once. With ``equal`` every rank gets ``len // device_num`` records
    (so all ranks run the same number of steps; the few left over change with each epoch's shuffle).
    """
    if not 0 <= rank_id < device_num:
        raise DataError(f"rank_id {rank_id} is not in 0..{device_num - 1} (device_num {device_num})")
    share = order[rank_id::device_num]
    return share[:len(order) // device_num] if equal else share


def sample_plan(num_records: int, *, batch_size: int, drop_remainder: bool = True, shuffle: bool = True,
                seed: int = 0, epochs: int = 1, rank_id: int = 0, device_num: int = 1,
                skip_steps: int = 0) -> list[np.ndarray]:
    """Record indices this rank reads, one array per epoch, for ``epochs`` epochs, from step ``skip_steps``.

    Epochs are batched apart (without ``drop_remainder`` an epoch's last batch may be short), so a step is
    a batch of one epoch. Epochs wholly skipped are left out.
    """
    if batch_size < 1 or epochs < 1 or device_num < 1 or skip_steps < 0:
        raise DataError("batch_size, repeat and device_num must be positive and the step to skip to not negative")
    parts = []
    for epoch in range(epochs):
        share = rank_share(epoch_order(num_records, epoch, shuffle, seed), rank_id, device_num, drop_remainder)
        if drop_remainder:
            share = share[:len(share) // batch_size * batch_size]
        parts.append(share)
    steps = [-(-len(part) // batch_size) for part in parts]  # each epoch's batches (a last one may be short)
    if skip_steps > sum(steps):
        raise DataError(f"cannot skip to step {skip_steps}: this rank has {sum(steps)} steps in {epochs} epoch(s)")
    out = []
    for part, n in zip(parts, steps):
        if skip_steps >= n:
            skip_steps -= n
            continue
        out.append(part[skip_steps * batch_size:])
        skip_steps = 0
    return out
