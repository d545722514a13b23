"""How one of our tensors relates to Hugging Face's: renamed (maybe transposed), stacked, or fused.

Pure data: a family's ``weight_rules(config)`` lists them; they give the names and shapes of both sides
(``ours_shapes``/``hf_shapes``, from which the parameter shapes of our networks are derived) and move
arrays from one side to the other (``to_ours``/``to_hf``; ``get(name)`` returns an array of the other
side). mf-models loads a Hugging Face folder with them; mf-ckpt streams them into checkpoints its own way.
Nothing here imports numpy: the arrays' own methods do the work, and stacking or fusing imports it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Getter = Callable[[str], Any]


@dataclass(frozen=True)
class Rename:
    """``ours`` (shape ``shape``) is HF's ``hf``, transposed when ``transpose`` (2-D)."""

    ours: str
    hf: str
    shape: tuple
    transpose: bool = False

    def hf_shapes(self) -> dict[str, tuple]:
        return {self.hf: self.shape[::-1] if self.transpose else self.shape}

    def ours_shapes(self) -> dict[str, tuple]:
        return {self.ours: self.shape}

    def to_ours(self, get: Getter) -> dict[str, Any]:
        value = get(self.hf)
        return {self.ours: value.T if self.transpose else value}

    def to_hf(self, get: Getter) -> dict[str, Any]:
        value = get(self.ours)
        return {self.hf: value.T if self.transpose else value}


@dataclass(frozen=True)
class Stack:
    """``ours`` (shape (n, ...)) stacks HF's tensors ``hf`` (n of them, each ``shape[1:]``) along axis 0; with
    ``transpose`` each 2-D tensor transposed (HF's are ``shape[1:][::-1]``), as MindFormers' grouped-matmul
    (GMM) expert layout holds them."""

    ours: str
    hf: tuple
    shape: tuple
    transpose: bool = False

    def hf_shapes(self) -> dict[str, tuple]:
        return {name: self.shape[1:][::-1] if self.transpose else self.shape[1:] for name in self.hf}

    def ours_shapes(self) -> dict[str, tuple]:
        return {self.ours: self.shape}

    def to_ours(self, get: Getter) -> dict[str, Any]:
        import numpy as np  # only stacking builds a new array; reading configs never needs numpy

        return {self.ours: np.stack([get(name).T if self.transpose else get(name) for name in self.hf])}

    def to_hf(self, get: Getter) -> dict[str, Any]:
        value = get(self.ours)
        return {name: value[e].T if self.transpose else value[e] for e, name in enumerate(self.hf)}

    def transposed(self) -> "Stack":
        """This rule in the other layout of the stacked tensors: (n, a, b) <-> (n, b, a)."""
        n, a, b = self.shape
        return Stack(self.ours, self.hf, (n, b, a), not self.transpose)


@dataclass(frozen=True)
class Fused:
    """HF's ``hf`` (shape ``hf_shape``) fuses our tensors ``ours`` (shapes ``shapes``): ``split(fused)`` gives
    them (views), ``fuse(list)`` gives the fused tensor back."""

    ours: tuple
    hf: str
    shapes: tuple
    hf_shape: tuple
    split: Callable
    fuse: Callable

    def hf_shapes(self) -> dict[str, tuple]:
        return {self.hf: self.hf_shape}

    def ours_shapes(self) -> dict[str, tuple]:
        return dict(zip(self.ours, self.shapes))

    def to_ours(self, get: Getter) -> dict[str, Any]:
        return dict(zip(self.ours, self.split(get(self.hf))))

    def to_hf(self, get: Getter) -> dict[str, Any]:
        return {self.hf: self.fuse([get(name) for name in self.ours])}


Rule = Rename | Stack | Fused


def ours_shapes(rules: list[Rule]) -> dict[str, tuple]:
    """{our parameter name: shape} of every rule, in rule order."""
    return {name: shape for rule in rules for name, shape in rule.ours_shapes().items()}


def hf_shapes(rules: list[Rule]) -> dict[str, tuple]:
    """{Hugging Face tensor name: shape} of every rule, in rule order."""
    return {name: shape for rule in rules for name, shape in rule.hf_shapes().items()}
