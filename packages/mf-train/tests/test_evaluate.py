"""Evaluation against transformers: loss, perplexity and token count of `mf-train run --run_mode eval` on a
Hugging Face folder equal what transformers computes on the same weights and records."""

import math
import subprocess

import numpy as np
import torch
import transformers

from mf_data.dataset import numpy_batches

from .helpers import cli, preprocess, script, write_task


def test_eval_perplexity_equals_transformers(tmp_path, mf_assets, sp_model):
    text = (mf_assets / "text" / "wiki.valid.tokens").read_text(encoding="utf-8")[:6000]
    (tmp_path / "valid.tokens").write_text(text, encoding="utf-8")
    data = preprocess(tmp_path / "valid", "wiki", tmp_path / "valid.tokens", sp_model)
    torch.manual_seed(0)
    hf = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2,
        pad_token_id=0)).eval()
    hf.save_pretrained(tmp_path / "hf")
    task = write_task(tmp_path / "task.yaml", sp_model, data)
    code, out, err = cli("run", "--config", task, "--run_mode", "eval", "--load_checkpoint", tmp_path / "hf")
    line = [x for x in err.splitlines() if x.startswith("eval: loss")][-1]
    loss, ppl, tokens = line.split()[2].rstrip(","), line.split()[4].rstrip(","), int(line.split()[5])
    total, count = torch_loss(hf, data)
    assert tokens == count > 500
    assert abs(float(loss) - total / count) < 1e-4
    assert abs(float(ppl) - math.exp(total / count)) < 1e-4 * math.exp(total / count)
    # the same weights named by the model config's checkpoint_name_or_path, and as a MindSpore .ckpt
    code, _, err = cli("run", "--config", task, "--run_mode", "eval", "--set",
                       f"model.model_config.checkpoint_name_or_path={tmp_path / 'hf'}")
    assert line in err.splitlines()
    subprocess.run([script("mf-ckpt"), "convert", "--input_path", str(tmp_path / "hf"), "--output_path",
                    str(tmp_path / "ms"), "--format", "ckpt"], check=True, capture_output=True)
    code, _, err = cli("run", "--config", task, "--run_mode", "eval", "--load_checkpoint",
                       tmp_path / "ms" / "model.ckpt")
    assert line in err.splitlines()
    # the weights as published (bfloat16): cast on the way in, the loss transformers gives on them upcast
    hf.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    code, _, err = cli("run", "--config", task, "--run_mode", "eval", "--load_checkpoint", tmp_path / "bf16")
    loss = [x for x in err.splitlines() if x.startswith("eval: loss")][-1].split()[2].rstrip(",")
    total, count = torch_loss(hf.float(), data)
    assert abs(float(loss) - total / count) < 1e-4


def torch_loss(hf, data):
    """(summed negative log-likelihood, tokens) of transformers' model over the dataset's records."""
    total, count = 0.0, 0
    section = {"data_loader": {"type": "IndexedDataset", "dataset_dir": str(data), "shuffle": False},
               "input_columns": ["input_ids"]}
    with torch.no_grad():
        for batch in numpy_batches(section, batch_size=4):
            ids = torch.from_numpy(batch["input_ids"].astype(np.int64))
            logp = torch.log_softmax(hf(ids[:, :-1]).logits.double(), -1)
            picked = logp.gather(-1, ids[:, 1:, None])[..., 0]
            mask = ids[:, :-1] != 0
            total -= float((picked * mask).sum())
            count += int(mask.sum())
    return total, count
