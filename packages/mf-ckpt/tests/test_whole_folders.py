"""A converted folder is a whole model (tokenizer files, generation_config.json and chat template carried both ways,
in the manifest; transformers loads the round trip with its tokenizer and equal logits), and convert_weight.py's
own spellings work: --torch_ckpt_path/--mindspore_ckpt_path, an output path naming one file, --reversed straight
from rank shards with --strategy_dir, Mixtral's --use_gmm layout; merge --src_ckpt_strategy."""

import json

import numpy as np
import pytest
import transformers

from mf_ckpt.store import open_checkpoint

from .hf_models import logits

IDS = np.array([[1, 5, 9, 17, 33, 2, 70, 4], [3, 3, 8, 60, 91, 12, 0, 44]])
TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"


def tensors(path):
    ckpt = open_checkpoint(path)
    return {name: np.array(ckpt.get(name)) for name in ckpt.infos}


@pytest.fixture(scope="module")
def whole(hf, mf_assets, tmp_path_factory):
    """The tiny GQA Llama's folder with a SentencePiece tokenizer, a generation_config.json and a chat template,
    as a Hugging Face hub folder has them."""
    folder = tmp_path_factory.mktemp("whole") / "hf"
    model = hf["llama_gqa"][1]
    model.save_pretrained(folder)
    (folder / "tokenizer.model").write_bytes((mf_assets / "tokenizers" / "mistral-7b-v0.1.sp.model").read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}))
    transformers.GenerationConfig(do_sample=True, top_p=0.9, temperature=0.6, max_length=40, bos_token_id=1,
                                  eos_token_id=2).save_pretrained(folder)
    (folder / "chat_template.jinja").write_text(TEMPLATE, encoding="utf-8")
    return folder, model


def test_hf_to_ours_to_hf_carries_the_whole_folder(whole, tmp_path, cli):
    folder, model = whole
    assert cli("convert", "--input_path", folder, "--output_path", tmp_path / "ours").exit_code == 0
    assert cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path",
               tmp_path / "back").exit_code == 0
    carried = {"tokenizer.model", "tokenizer_config.json", "generation_config.json", "chat_template.jinja"}
    for out in (tmp_path / "ours", tmp_path / "back"):
        names = {p.name for p in out.iterdir()}
        assert carried <= names
        assert all((out / n).read_bytes() == (folder / n).read_bytes() for n in carried)
        assert carried <= set(json.loads((out / "SHA256SUMS.json").read_text())["files"])
        assert cli("verify", out).exit_code == 0
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "back").eval()
    np.testing.assert_array_equal(logits(back, IDS), logits(model, IDS))
    theirs, again = transformers.AutoTokenizer.from_pretrained(folder), transformers.AutoTokenizer.from_pretrained(
        tmp_path / "back")
    text = "The converted folder is a whole model."
    assert again(text)["input_ids"] == theirs(text)["input_ids"] and len(again(text)["input_ids"]) > 5
    assert transformers.GenerationConfig.from_pretrained(tmp_path / "back").top_p == 0.9


def test_back_to_hugging_face_writes_the_generation_keys(hf, converted, tmp_path, cli):
    """Our folder has no generation_config.json: the model config's generation keys become one."""
    ours = converted["llama_gqa"][0]
    config = json.loads((ours / "config.json").read_text())
    config.update(do_sample=False, max_decode_length=48)
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "config.json").write_text(json.dumps(config))
    (tmp_path / "ours" / "model.safetensors").write_bytes((ours / "model.safetensors").read_bytes())
    assert cli("convert", "--reversed", "--input_path", tmp_path / "ours", "--output_path",
               tmp_path / "back").exit_code == 0
    generation = transformers.GenerationConfig.from_pretrained(tmp_path / "back")
    assert (generation.do_sample, generation.max_length, generation.eos_token_id) == (False, 48, config["eos_token_id"])


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_output_path_naming_a_file_writes_that_file(hf, converted, tmp_path, cli, suffix):
    folder, _ = hf["llama_mha"]
    out = tmp_path / f"llama{suffix}"
    result = cli("convert", "--torch_ckpt_path", folder, "--mindspore_ckpt_path", out)
    assert result.exit_code == 0, result.output
    assert out.is_file() and (tmp_path / f"llama{suffix}.sha256.json").is_file()
    assert cli("diff", out, converted["llama_mha"][0]).exit_code == 0
    assert cli("verify", out).exit_code == 0


def test_mindformers_spellings_of_reversed(hf, converted, tmp_path, cli):
    """convert_reversed.py: --mindspore_ckpt_path is the input, --torch_ckpt_path the output."""
    ours = converted["llama_mha"][0]
    result = cli("convert", "--reversed", "--mindspore_ckpt_path", ours, "--torch_ckpt_path",
                 tmp_path / "hf.safetensors")
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "hf.safetensors", hf["llama_mha"][0]).exit_code == 0
    result = cli("convert", "--reversed", "--mindspore_ckpt_path", ours)
    assert result.exit_code == 2 and "output: missing: give --input and --output" in result.output
    result = cli("convert", "--input_path", ours, "--torch_ckpt_path", tmp_path / "y", "--output_path", tmp_path / "z")
    assert result.exit_code == 2 and "given twice" in result.output


def test_reversed_from_rank_shards_with_their_strategy(hf, converted, tmp_path, cli):
    ours = converted["llama_gqa"][0]
    names = [n for n in tensors(ours) if ".attention.w" in n or "feed_forward.w1" in n]
    layout = {"model_parallel": 2, "params": {n: {"split_dim": 1 if ".wo." in n else 0} for n in names}}
    (tmp_path / "tp2.json").write_text(json.dumps(layout))
    assert cli("split", "--dst_ckpt_strategy", tmp_path / "tp2.json", "--src_ckpt", ours, "--dst_ckpt_dir",
               tmp_path / "shards").exit_code == 0
    result = cli("convert", "--reversed", "--input_path", tmp_path / "shards", "--output_path", tmp_path / "hf")
    assert result.exit_code == 2 and "--strategy_dir" in result.output
    result = cli("convert", "--reversed", "--input_path", tmp_path / "shards", "--strategy_dir", tmp_path / "tp2.json",
                 "--config", ours / "config.json", "--output_path", tmp_path / "hf")
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "hf", hf["llama_gqa"][0]).exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mf-ckpt-merge-")]
    result = cli("merge", "--src_ckpt_strategy", tmp_path / "tp2.json", "--src_ckpt_dir", tmp_path / "shards",
                 "--dst_ckpt_dir", tmp_path / "merged")
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "merged/rank_0/checkpoint_0.safetensors", ours).exit_code == 0
    result = cli("convert", "--reversed", "--input_path", tmp_path / "merged", "--config", ours / "config.json",
                 "--output_path", tmp_path / "hf1")  # one rank folder: its checkpoint, as convert_reversed.py
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "hf1", hf["llama_gqa"][0]).exit_code == 0


def test_mixtral_gmm_layout_both_ways(hf, converted, tmp_path, cli):
    folder, _ = hf["mixtral"]
    assert cli("convert", "--input_path", folder, "--output_path", tmp_path / "gmm", "--use_gmm").exit_code == 0
    gmm, plain = tensors(tmp_path / "gmm"), tensors(converted["mixtral"][0])
    experts = [n for n in plain if ".feed_forward.ffn." in n]
    assert len(experts) == 6 and gmm.keys() == plain.keys()
    for name in experts:  # (expert, in, out): each expert's matrix transposed, as convert_weight.py --use_gmm
        np.testing.assert_array_equal(gmm[name], plain[name].transpose(0, 2, 1))
    assert all(np.array_equal(gmm[n], plain[n]) for n in plain if n not in experts)
    result = cli("convert", "--reversed", "--input_path", tmp_path / "gmm", "--output_path", tmp_path / "hf",
                 "--use_gmm", "true")
    assert result.exit_code == 0, result.output
    assert cli("diff", tmp_path / "hf", folder).exit_code == 0
    result = cli("convert", "--reversed", "--input_path", tmp_path / "gmm", "--output_path", tmp_path / "no")
    assert result.exit_code == 2 and "feed_forward.ffn.w1.weight" in result.output
