"""`mf-generate run` and `chat` as users call them: a model folder, a real MindFormers predict YAML with a
checkpoint, a Hugging Face folder converted on the fly; streaming; one-line errors with exit code 2."""

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mf_generate import __version__
from mf_generate.cli import main

from .helpers import SENTENCES, texts

SHRINK = {"num_layers": 2, "hidden_size": 64, "num_heads": 4, "n_kv_heads": 2, "intermediate_size": 128,
          "vocab_size": 400, "seq_length": 64, "compute_dtype": "float32", "param_init_type": "float32",
          "rotary_dtype": "float32"}


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def test_version_and_help():
    assert invoke("--version").output.strip() == "mf-generate, version " + __version__
    assert "--predict_data" in invoke("run", "--help").output


def test_run_in_a_terminal_prints_no_mindspore_warnings(trained):
    """A real process (MindSpore's C++ log writes to file descriptor 2, which CliRunner does not see): stderr
    holds our one status line, none of MindSpore's warnings about numpy or eliminated side-effect nodes."""
    folder, _ = trained
    env = {k: v for k, v in os.environ.items() if k != "GLOG_v"}  # MindSpore's default level: warnings shown
    r = subprocess.run([sys.executable, "-c", "from mf_generate.cli import main; main()", "run", "--model",
                        str(folder), "--predict_data", "The quick", "--max_new_tokens", "5"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert r.stdout.strip() and len(lines) == 2, r.stderr
    assert lines[0].startswith("decoding: ") and "prompt(s)" in lines[1], r.stderr


def test_run_mindformers_predict_yaml_with_checkpoint(trained, mf_assets):
    folder, _ = trained
    sets = ["--set", "context.device_target=CPU"]
    for key, value in SHRINK.items():
        sets += ["--set", f"model.model_config.{key}={value}"]
    r = invoke("run", "--config", mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml", "--load_checkpoint",
               folder / "model.safetensors", "--vocab_file", folder / "tokenizer.model", *sets,
               "--predict_data", "The quick", "A tiny", "--max_new_tokens", "50")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[0], SENTENCES[2]]
    assert "2 prompt(s)" in r.stderr


def test_run_hugging_face_folder_converted_on_the_fly(trained, tmp_path):
    from mf_ckpt.conversion import convert

    folder, _ = trained
    hf = tmp_path / "hf"
    convert(folder, hf, reversed=True)
    for name in ("tokenizer.model", "tokenizer_config.json"):
        shutil.copy(folder / name, hf / name)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Generation with\n\nMindSpore runs\n", encoding="utf-8")
    r = invoke("run", "--load_checkpoint", hf, "--predict_file", prompts, "--max_new_tokens", "50",
               "--do_sample", "false", "--predict_batch_size", "2")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[3], SENTENCES[1]]


def test_run_stream_prints_as_it_goes(trained):
    r = invoke("run", "--model", trained[0], "--predict_data", "A tiny", "--max_new_tokens", "50", "--stream")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[2]]


def test_run_output_jsonl_and_exact_counts(trained, tmp_path):
    """--output FILE.jsonl: each prompt's ids as the tokenizer encodes it, the generated ids and their counts; the
    summary's counts are their sums."""
    from mf_tokenizers import AutoTokenizer

    folder, _ = trained
    out = tmp_path / "completions.jsonl"
    r = invoke("run", "--model", folder, "--predict_data", "The quick", "A tiny", "--max_new_tokens", "50",
               "--do_sample", "false", "--output", out)
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    tok = AutoTokenizer.from_pretrained(folder)
    assert [row["prompt"] + row["completion"] for row in rows] == [SENTENCES[0], SENTENCES[2]]
    for row in rows:
        assert row["prompt_ids"] == tok.encode(row["prompt"]) and row["prompt_tokens"] == len(row["prompt_ids"])
        assert row["completion_tokens"] == len(row["completion_ids"]) > 0
        full = tok.decode(row["prompt_ids"] + row["completion_ids"], skip_special_tokens=True)
        assert full == row["prompt"] + row["completion"]
    prompt_tokens = sum(row["prompt_tokens"] for row in rows)
    new_tokens = sum(row["completion_tokens"] for row in rows)
    assert f"2 prompt(s): {prompt_tokens} prompt tokens, {new_tokens} new tokens in " in r.stderr
    assert "new tokens/s" in r.stderr and str(out) in r.stderr


def test_chat_without_a_template_fails_at_start(trained):
    """The trained tokenizer has no chat template: exit 2 naming --chat_template, before any model loads."""
    r = invoke("chat", "--model", trained[0], input="Hi\n")
    assert r.exit_code == 2, r.output
    assert r.stderr == ("Error: --chat_template: the tokenizer has no chat template; pass --chat_template alpaca "
                        "or llama3\n")
    r = invoke("chat", "--model", trained[0], "--chat_template", "alpaca", "--max_new_tokens", "2", input="/exit\n")
    assert r.exit_code == 0, r.output
    assert "/clear" in r.stderr and "/exit" in r.stderr  # the banner


TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}assistant:{% endif %}")


def test_chat_keeps_history_within_seq_length(trained, tmp_path, monkeypatch):
    from mf_generate.chat import Chat

    folder = tmp_path / "model"
    shutil.copytree(trained[0], folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "chat_template": TEMPLATE}))
    prompts = []
    original = Chat.reply

    def spy(self, text, streamer=None):
        answer = original(self, text, streamer)
        prompts.append([dict(m) for m in self.messages])
        return answer

    monkeypatch.setattr(Chat, "reply", spy)
    middle, long = SENTENCES[2], "long " * 80
    r = invoke("chat", "--model", folder, "--max_new_tokens", "4", "--do_sample", "false",
               input=f"Hi\nAnd then?\n/clear\nAgain\n{middle}\n{long}\n/exit\n")
    assert r.exit_code == 0, r.output
    assert r.stdout.count("assistant> ") == 5
    assert [len(p) for p in prompts] == [2, 4, 2, 2]
    assert prompts[1][:2] == prompts[0] and prompts[1][2] == {"role": "user", "content": "And then?"}
    assert prompts[2][0]["content"] == "Again"
    assert prompts[3][0]["content"] == middle  # the oldest exchange made room for it
    assert "seq_length" in r.stderr  # the message too long for the model alone


@pytest.mark.parametrize("args, message", [
    ([], "name a model"),
    (["--model", "MISSING"], "MISSING"),
    (["--model", "{folder}", "--top_p", "1.5"], "top_p: must be in (0, 1]"),
    (["--model", "{folder}", "--max_new_tokens", "-1"], "max_new_tokens: must be >= 0"),
    (["--model", "{folder}", "--predict_data", ""], "predict_data: prompt 0 is empty"),
    (["--model", "{folder}", "--predict_data", "x" * 400], "more than the model's seq_length 64"),
    (["--config", "{yaml}", "--load_checkpoint", "{folder}", *[a for k, v in SHRINK.items() for a in
                                                                ("--set", f"model.model_config.{k}={v}")]],
     "context.device_target"),
    (["--config", "{yaml}", "--use_parallel", "true"], "use_parallel"),
])
def test_errors_are_one_line_exit_2(trained, mf_assets, args, message):
    folder, _ = trained
    yaml = mf_assets / "mindformers-yaml" / "predict_llama2_7b.yaml"
    args = [a.format(folder=folder, yaml=yaml) for a in args]
    if "--predict_data" not in args:
        args += ["--predict_data", "hello"]
    r = invoke("run", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_run_mindspore_ckpt_and_user_class_from_register_path(trained, memorised, tmp_path):
    folder, _ = trained
    memorised[0].save_pretrained(tmp_path / "ckpt", format="ckpt")
    package = tmp_path / "user_models"  # a plain folder, as MindFormers' research/ folders
    package.mkdir()
    (package / "user_llama_ckpt.py").write_text(
        "from mf_models import LlamaForCausalLM\n\n\nclass MyLlama(LlamaForCausalLM):\n    pass\n")
    config = json.loads((folder / "config.json").read_text())
    yaml = tmp_path / "predict.yaml"
    yaml.write_text(json.dumps({
        "run_mode": "predict", "use_parallel": False, "context": {"mode": 0, "device_target": "CPU"},
        "load_checkpoint": str(tmp_path / "ckpt" / "model.ckpt"),
        "model": {"model_config": config, "arch": {"type": "MyLlama", "auto_register": "user_llama_ckpt.MyLlama"}},
        "processor": {"tokenizer": {"type": "LlamaTokenizer", "vocab_file": str(folder / "tokenizer.model")}},
    }))
    r = invoke("run", "--config", yaml, "--predict_data", "MindSpore runs", "--max_new_tokens", "50")
    assert r.exit_code == 2 and "MyLlama" in r.stderr  # unknown without --register_path
    r = invoke("run", "--config", yaml, "--register_path", package, "--predict_data", "MindSpore runs",
               "--max_new_tokens", "50")
    assert r.exit_code == 0, r.output
    assert texts(r.stdout) == [SENTENCES[1]]


def test_progress_bar_over_predict_file_in_a_terminal(trained, tmp_path):
    """stderr a terminal: a bar counts the prompts of --predict_file (none when stderr is a file or a pipe)."""
    import fcntl
    import pty
    import struct
    import termios

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The quick\nA tiny\nMindSpore runs\n", encoding="utf-8")
    args = [sys.executable, "-c", "from mf_generate.cli import main; main()", "run", "--model", str(trained[0]),
            "--predict_file", str(prompts), "--max_new_tokens", "5", "--predict_batch_size", "1"]
    main_fd, term = pty.openpty()
    fcntl.ioctl(term, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty has 0 columns
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=term, text=True)
    os.close(term)
    shown = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # the terminal's other end closed: all read
            break
        if not chunk:
            break
        shown += chunk
    os.close(main_fd)
    assert proc.returncode == 0, shown
    assert re.search(rb"\d/3 \[", shown) and b"prompts" in shown  # e.g. " 1/3 [00:02<00:04,  2.10s/ prompts]"
    piped = subprocess.run(args, capture_output=True, text=True)
    assert not re.search(r"\d/3 \[", piped.stderr) and "3 prompt(s)" in piped.stderr
