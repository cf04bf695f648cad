"""The symmetry algebra of a model, as the methods return it, and the Lie bracket of its fields.

An algebra holds explicit generators X(θ) = Aθ + c when the model is small enough for them to be
useful (JSON, global checks), and, from the per-interface method, width-independent families
(:mod:`.per_interface.families`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .generator import Generator


@dataclass
class Algebra:
    model: object
    interfaces: list         # per-interface method: the Interface of each hidden layer
    families: list           # per-interface families (Family), [] from the other methods
    generators: list[Generator] | None = None     # explicit, when small enough
    notes: list[str] = field(default_factory=list)
    #: fields with values in the loss's flat translations that are counted in dim, not listed
    #: (the structured search, :mod:`.structured.flat`); their rotations are rebuilt where they are needed
    flat_members: int = 0

    @property
    def dim(self) -> int:
        return sum(f.count for f in self.families)

    @property
    def explicit(self) -> bool:
        return self.generators is not None


def lie_bracket(X: Generator, Y: Generator) -> Generator:
    """[X, Y] = J_Y X − J_X Y for affine fields: A = A_Y A_X − A_X A_Y, c = A_Y c_X − A_X c_Y."""
    out = Generator(f"[{X.name},{Y.name}]", "bracket")
    for (r, s), a in Y.A.items():
        for (s2, t), b in X.A.items():
            if s2 == s:
                out.add(r, t, a * b)
        if s in X.c:
            out.add(r, None, a * X.c[s])
    for (r, s), a in X.A.items():
        for (s2, t), b in Y.A.items():
            if s2 == s:
                out.add(r, t, -a * b)
        if s in Y.c:
            out.add(r, None, -a * Y.c[s])
    return out
