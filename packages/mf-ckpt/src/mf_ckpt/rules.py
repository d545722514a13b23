"""Streaming the family weight rules (``mf_config.rules``: ``Rename``/``Stack``/``Fused``) into checkpoints.

A family's spec lists its rules for a config (``mf_config.family(name).weight_rules(config)``); ``specs_to_ours``
and ``specs_to_hf`` turn them into output Specs for either direction, after ``check_source`` has checked that
the source holds exactly the tensors, with exactly the shapes, the config implies.
"""

from mf_ckpt.dtypes import cast_name
from mf_ckpt.errors import CheckpointError
from mf_ckpt.output import Spec, streamed
from mf_config.rules import Rename, Stack
from mf_config.state_names import is_optimizer_state


def check_source(ckpt, expected, ignorable, family, config_file):
    """The checkpoint must hold every expected tensor with the expected shape, and nothing else but
    ``ignorable(name)`` tensors; CheckpointError naming the file and tensor otherwise."""
    for name, shape in expected.items():
        info = ckpt.infos.get(name)
        if info is None:
            raise CheckpointError(f"missing: the {family} config ({config_file}) implies it", file=ckpt.path,
                                  key=name)
        if tuple(info.shape) != tuple(shape):
            raise CheckpointError(f"shape {list(info.shape)} in the checkpoint, but the config ({config_file}) "
                                  f"implies {list(shape)}", file=info.file, key=name)
    for name in ckpt.infos:
        if name not in expected and not ignorable(name):
            hint = "; it is optimizer state: run mf-ckpt strip-optimizer first" if is_optimizer_state(name) else ""
            raise CheckpointError(f"not a tensor of a {family} model with this config ({config_file}){hint}",
                                  file=ckpt.infos[name].file, key=name)


def _dtype(ckpt, name, target):
    return cast_name(ckpt.infos[name].dtype, target)


def specs_to_ours(rules, ckpt, dtype=None):
    """Specs writing our tensors from a Hugging Face checkpoint (already checked)."""
    specs, get = [], ckpt.get
    for r in rules:
        if isinstance(r, Rename):
            out = _dtype(ckpt, r.hf, dtype)
            specs.append(Spec(r.ours, out, r.shape, lambda r=r: [get(r.hf).T if r.transpose else get(r.hf)],
                              (r.hf,), **({} if r.transpose else streamed(ckpt, [r.hf], out))))
        elif isinstance(r, Stack):
            out = _dtype(ckpt, r.hf[0], dtype)
            specs.append(Spec(r.ours, out, r.shape, lambda r=r: [get(h).T if r.transpose else get(h) for h in r.hf],
                              tuple(r.hf), **({} if r.transpose else streamed(ckpt, r.hf, out))))
        else:
            for j, (name, shape) in enumerate(zip(r.ours, r.shapes)):
                last = j == len(r.ours) - 1
                specs.append(Spec(name, _dtype(ckpt, r.hf, dtype), shape,
                                  lambda r=r, j=j: [r.split(get(r.hf))[j]], (r.hf,) if last else ()))
    return specs


def specs_to_hf(rules, ckpt, dtype=None):
    """Specs writing Hugging Face's tensors from our checkpoint (already checked)."""
    specs, get = [], ckpt.get
    for r in rules:
        if isinstance(r, Rename):
            shape, out = r.shape[::-1] if r.transpose else r.shape, _dtype(ckpt, r.ours, dtype)
            specs.append(Spec(r.hf, out, shape, lambda r=r: [get(r.ours).T if r.transpose else get(r.ours)],
                              (r.ours,), **({} if r.transpose else streamed(ckpt, [r.ours], out))))
        elif isinstance(r, Stack):
            for e, name in enumerate(r.hf):
                last = e == len(r.hf) - 1
                shape = r.shape[1:][::-1] if r.transpose else r.shape[1:]
                specs.append(Spec(name, _dtype(ckpt, r.ours, dtype), shape,
                                  lambda r=r, e=e: [get(r.ours)[e].T if r.transpose else get(r.ours)[e]],
                                  (r.ours,) if last else ()))
        else:
            specs.append(Spec(r.hf, _dtype(ckpt, r.ours[0], dtype), r.hf_shape,
                              lambda r=r: [r.fuse([get(o) for o in r.ours])], tuple(r.ours)))
    return specs
