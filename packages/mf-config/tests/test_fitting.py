"""A config against a checkpoint's tensors: every difference said in one line, and the size keys under which the
config implies exactly those tensors (checked by building the fitted config's shapes again)."""

import pytest

from mf_config import param_shapes, preset
from mf_config.fitting import compare, describe, expected_shapes, fitting_overrides, grouped
from mf_config.sources import apply_overrides


@pytest.mark.parametrize("big, small, hf", [
    ("llama2-7b", ("llama", "tiny"), False), ("llama2-70b", ("llama", "tiny"), True),
    ("mixtral-8x7b", ("mixtral", "tiny"), False), ("mixtral-8x7b", ("mixtral", "tiny"), True),
    ("bloom-560m", ("bloom", "tiny"), True), ("llama2-7b", ("llama2-7b", None), False),
])
def test_overrides_make_the_config_fit(big, small, hf):
    config = preset(big)
    target = preset(*small, num_layers=3) if small[1] else preset(small[0], intermediate_size=14336)
    found = expected_shapes(target, hf)
    fix = fitting_overrides(config, found, hf, lambda name, cfg: False)
    assert fix is not None and fix
    fitted = apply_overrides(config, [f"{key}={value}" for key, value in fix.items()])
    assert expected_shapes(fitted, hf) == found


def test_nothing_to_fix_and_nothing_that_fits():
    config = preset("llama", "tiny")
    assert fitting_overrides(config, param_shapes(config), False) == {}
    assert fitting_overrides(config, {"something.else": (3, 3)}, False) is None


def test_differences_in_one_line_with_layers_gathered():
    config, other = preset("llama", "tiny", num_layers=4), preset("llama", "tiny", intermediate_size=48)
    found = {**param_shapes(other), "model.layers.0.extra.weight": (1,)}
    diff = compare(param_shapes(config), found)
    assert len(diff.missing) == 18 and diff.unexpected == ["model.layers.0.extra.weight"]
    line = describe(diff)
    assert line.startswith("18 missing: model.layers.[2-3].attention.wq.weight, ")
    assert "1 unexpected: model.layers.0.extra.weight" in line
    assert "model.layers.[0-1].feed_forward.w2.weight: expected [32, 64], found [32, 48]" in line
    assert grouped(["a.0.b.1.c", "a.0.b.2.c", "a.1.b.1.c", "a.1.b.2.c", "a.5.d", "a.7.d"]) == [
        "a.[0-1].b.[1-2].c", "a.[5,7].d"]
    assert grouped(["a.0.b.1.c", "a.0.b.2.c", "a.1.b.1.c"]) == ["a.0.b.1.c", "a.0.b.2.c", "a.1.b.1.c"]
