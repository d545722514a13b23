"""LoRA applied from outside: names and shapes, the frozen base, training, merging, bad targets, graph mode."""

import mindspore as ms
import numpy as np
import pytest
from mindspore import Tensor, nn

from mf_config import param_shapes
from mf_config.errors import ConfigError
from mf_train.lora import DEFAULT_TARGETS, adapter_parameters, apply_lora, merge_lora

from .lora_support import (
    BATCH,
    build,
    logits,
    pynative_module,  # noqa: F401 (an autouse fixture)
    randomize_adapters,
    set_mode,
    values,
)

# the attention weights each family's default targets name (MindFormers' parameter names, mf_models.specs)
ATTENTION = {"llama": ("attention.wq", "attention.wk", "attention.wv", "attention.wo"),
             "gpt2": ("attention.dense1", "attention.dense2", "attention.dense3", "attention.projection")}
ATTENTION.update(mixtral=ATTENTION["llama"], bloom=ATTENTION["gpt2"])
TRANSPOSED = ("attention.projection", "output.mapping", "output.projection")  # stored (in, out) by MindFormers


@pytest.fixture(autouse=True)
def pynative():
    set_mode(False)
    yield
    set_mode(False)


@pytest.mark.parametrize("family", ["llama", "mixtral", "gpt2", "bloom"])
def test_zero_b_keeps_logits_names_and_shapes_are_mindformers(family):
    model = build(family)
    before = logits(model)
    adapters = apply_lora(model, {"lora_rank": 4, "lora_alpha": 8})
    assert np.array_equal(logits(model), before)  # B = 0: the adapted model starts as the base model
    expected = {}
    for name, shape in param_shapes(model.config).items():
        layer = name[:-len(".weight")]
        if name.endswith(".weight") and layer.endswith(ATTENTION[family]):
            out, inp = shape[::-1] if layer.endswith(TRANSPOSED) else shape
            expected[layer + ".mindpet_delta_lora_a"] = (4, inp)
            expected[layer + ".mindpet_delta_lora_b"] = (out, 4)
    assert {p.name: tuple(p.shape) for p in adapters} == expected
    assert {p.name for p in model.trainable_params()} == set(expected)
    names = [n for n, _ in model.parameters_and_names()]
    assert [p.name for p in model.get_parameters()] == names and len(set(names)) == len(names)
    assert not np.abs(adapter_parameters(model)[adapters[0].name].asnumpy()).max() == 0  # A is initialised
    assert model.config.pet_config.target_modules == DEFAULT_TARGETS[family]


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_training_changes_only_adapters_and_lowers_loss(family):
    set_mode(True)
    model = build(family)
    apply_lora(model, {"lora_rank": 4, "lora_alpha": 8, "target_modules": ".*wq|.*wv|.*w2" if family == "llama"
                       else ".*dense1|.*dense3|.*mapping"})
    before = values(model)
    step = nn.TrainOneStepCell(model, nn.AdamWeightDecay(model.trainable_params(), learning_rate=1e-2))
    step.set_train(True)
    losses = [float(step(Tensor(BATCH)).asnumpy()) for _ in range(20)]
    after = values(model)
    changed = {n for n in before if not np.array_equal(before[n], after[n])}
    assert changed == set(adapter_parameters(model))
    assert losses[-1] < 0.95 * losses[0] and losses[-1] < min(losses[:10])


@pytest.mark.parametrize("family,graph", [("llama", True), ("llama", False), ("mixtral", True), ("gpt2", False),
                                          ("bloom", False)])
def test_merge_gives_a_plain_model_with_the_adapted_logits(family, graph, tmp_path):
    set_mode(graph)
    model = build(family)
    model.save_pretrained(tmp_path / "base")
    apply_lora(model, {"lora_rank": 4, "lora_alpha": 8, "target_modules": ".*w[qo]|.*w1" if family == "llama" else
                       None})
    randomize_adapters(model)
    adapted = logits(model)
    merged = merge_lora(model)
    assert merged is model and merged.config.pet_config is None
    got = logits(merged)
    assert np.abs(got - adapted).max() < 1e-5 * max(1.0, np.abs(adapted).max())
    assert {p.name: tuple(p.shape) for p in merged.get_parameters()} == param_shapes(merged.config)
    assert len(merged.trainable_params()) == len(list(merged.get_parameters()))
    merged.save_pretrained(tmp_path / "merged")
    plain = type(merged).from_pretrained(tmp_path / "merged")  # a plain model of the merged weights, same graph
    assert np.array_equal(logits(plain), got)
    base, after = type(merged).from_pretrained(tmp_path / "base"), values(merged)
    changed = {n for n, v in values(base).items() if not np.array_equal(v, after[n])}
    targets = ("attention.wq", "attention.wo", "feed_forward.w1") if family == "llama" else ATTENTION[family]
    assert changed == {n for n in after if n.endswith(".weight") and n[:-len(".weight")].endswith(targets)}


def test_graph_compiled_before_apply_is_not_reused():
    set_mode(True)
    model = build("llama")
    before = logits(model)  # compiles the plain graph
    apply_lora(model, {"lora_rank": 2, "lora_alpha": 2, "lora_b_init": "normal", "target_modules": ".*wo"})
    assert np.abs(logits(model) - before).max() > 1e-6


def test_bad_targets_are_one_line_errors_naming_the_regex():
    model = build("llama")
    with pytest.raises(ConfigError) as e:
        apply_lora(model, {"target_modules": ".*wq|.*wx"})
    assert str(e.value) == ("pet_config.target_modules: '.*wq|.*wx' ('.*wx' of it) names no Linear layer of "
                            "LlamaForCausalLM (its Linear layers: lm_head, w1, w2, w3, wk, wo, wq, wv)")
    with pytest.raises(ConfigError, match=r"^pet_config.target_modules: '\.\*dense1' names no Linear layer"):
        apply_lora(model, {"target_modules": ".*dense1"})
    with pytest.raises(ConfigError, match="names no Linear layer of LlamaForCausalLM"):
        apply_lora(build("mixtral"), {"target_modules": r".*ffn\.w1"})  # stacked experts are not Linear layers
    with pytest.raises(ConfigError, match=r"^pet_config.lora_rank: must be greater than 0"):
        apply_lora(model, {"lora_rank": 0})
    assert not adapter_parameters(model) and len(model.trainable_params()) == len(list(model.get_parameters()))
    apply_lora(model, {"target_modules": ".*wq"})
    with pytest.raises(ConfigError, match="LoRA is already applied"):
        apply_lora(model, {"target_modules": ".*wk"})


def test_target_forms_exclude_layers_and_freeze_patterns():
    model = build("llama")
    adapters = apply_lora(model, {"target_modules": r"model\.layers\.1\.attention\.wq\.weight|wv",
                                  "exclude_layers": [r".*layers\.0\..*"], "freeze_exclude": ["*norm*"]})
    assert [p.name for p in adapters] == [f"model.layers.1.attention.{w}.mindpet_delta_lora_{x}"
                                         for w in ("wq", "wv") for x in "ab"]
    trainable = {p.name for p in model.trainable_params()}
    norms = {n for n in param_shapes(model.config) if "norm" in n}
    assert trainable == {p.name for p in adapters} | norms


def test_generation_with_adapters_equals_the_merged_model():
    set_mode(True)
    model = build("llama")
    apply_lora(model, {"lora_rank": 4, "lora_alpha": 8})
    randomize_adapters(model)
    model.set_train(False)
    prompt = BATCH[:, :6]

    def run(m):
        first = m.prefill(prompt, max_length=16).asnumpy()
        steps = [m.decode(BATCH[:, 6 + i:7 + i]).asnumpy() for i in range(3)]
        return np.concatenate([first, *steps], axis=1)

    adapted = run(model)
    full = logits(model, BATCH[:, :9])
    assert np.abs(adapted - full).max() < 1e-4
    merged = run(merge_lora(model))
    assert np.abs(merged - adapted).max() < 1e-4 and np.abs(merged - full).max() < 1e-4


def test_half_precision_adapters_follow_pet_config_dtypes():
    model = build("llama")
    with pytest.raises(ConfigError, match="^pet_config.param_init_type: bfloat16 is not supported by MindSpore's CPU"):
        apply_lora(model, {"target_modules": ".*wq", "lora_dropout": 0.1, "param_init_type": "bfloat16"})
    assert sorted(p.name for p in model.get_parameters()) == sorted(param_shapes(model.config))  # left unchanged
    adapters = apply_lora(model, {"target_modules": ".*wq", "param_init_type": "float16"})
    assert {p.dtype for p in adapters} == {ms.float16}
    randomize_adapters(model)
    assert np.isfinite(logits(model)).all()
