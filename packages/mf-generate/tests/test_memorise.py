"""End to end: a tiny Llama trained here on a few sentences reproduces one from its first words through
``mf-generate run`` (greedy, KV cache), and the pipeline API gives the same text."""

import pytest
from click.testing import CliRunner

from mf_generate import pipeline
from mf_generate.cli import main

from .helpers import SENTENCES


@pytest.mark.slow
def test_training_converged(trained):
    assert trained[1] < 0.05


@pytest.mark.slow
def test_run_reproduces_a_memorised_sentence(trained):
    folder, _ = trained
    sentence = SENTENCES[1]
    prompt = " ".join(sentence.split()[:3])
    r = CliRunner().invoke(main, ["run", "--model", str(folder), "--predict_data", prompt, "--max_new_tokens", "40",
                                  "--do_sample", "false", "--use_past", "true"])
    assert r.exit_code == 0, r.output
    assert r.stdout == f"{prompt}\n--- completion ---\n{sentence[len(prompt):]}\n\n"


@pytest.mark.slow
def test_pipeline_batch_of_prompts(trained):
    folder, _ = trained
    pipe = pipeline("text_generation", model=str(folder), max_new_tokens=40, do_sample=False, batch_size=4)
    prompts = [" ".join(s.split()[:2]) for s in SENTENCES]
    out = pipe(prompts)
    assert out == [{"text_generation_text": [s]} for s in SENTENCES]
