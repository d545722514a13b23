"""Placements: how one parameter is laid out over the mesh. A placement maps tensor dimensions to mesh axes
("mp" model parallel, "ep" expert parallel); a dimension it does not name is whole on every rank.

The kinds are Megatron's: ``column`` (output features split; its layer's input enters a model-parallel region),
``row`` (input features split; the layer's output is all-reduced), ``vocab`` (vocabulary rows split; replicated
when ``vocab_emb_dp`` is True), ``expert`` (stacked experts split over ep, each expert's features over mp) and
``replicated``.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Placement:
    kind: str
    dims: tuple = field(default=())  # ((tensor dim, mesh axis), ...)

    @property
    def split(self):
        return dict(self.dims)

    def axes(self):
        return tuple(axis for _, axis in self.dims)

    def local_shape(self, shape, mesh):
        """This placement's block shape of a full tensor ``shape`` on ``mesh``."""
        out = list(shape)
        for dim, axis in self.dims:
            out[dim] //= mesh.size(axis)
        return tuple(out)

    def box(self, shape, mesh, rank):
        """(start, stop) per dimension of the block that ``rank`` holds."""
        box = [(0, n) for n in shape]
        for dim, axis in self.dims:
            step = shape[dim] // mesh.size(axis)
            index = mesh.index(axis, rank)
            box[dim] = (index * step, (index + 1) * step)
        return tuple(box)


REPLICATED = Placement("replicated")
COLUMN = Placement("column", ((0, "mp"),))      # (out, in) weight or (out,) bias
COLUMN_T = Placement("column", ((1, "mp"),))    # (in, out) weight (GPT-2/Bloom mapping)
ROW = Placement("row", ((1, "mp"),))            # (out, in) weight
ROW_T = Placement("row", ((0, "mp"),))          # (in, out) weight (GPT-2/Bloom projections)
VOCAB = Placement("vocab", ((0, "mp"),))        # (vocab, hidden) embedding table or head
EXPERT_COLUMN = Placement("expert", ((0, "ep"), (1, "mp")))   # stacked (E, out, in) w1/w3
EXPERT_ROW = Placement("expert", ((0, "ep"), (2, "mp")))      # stacked (E, out, in) w2
