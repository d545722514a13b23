"""The `mf-generate` command: ``run`` (``run_mindformer.py --run_mode predict``) and ``chat``."""

import functools
from typing import Any

import click

from mf_config.cli_support import group
from mf_config.errors import MFError
from mf_generate import __version__

TEMPLATES = ("alpaca", "llama3", "tokenizer")


@group(__version__, "mf-generate")
def main() -> None:
    """generate() with KV cache, sampling, streaming, pipelines; `mf-generate run`."""


def model_options(f):
    """The flags that name the model, its weights and tokenizer, as run_mindformer.py spells them."""
    options = [
        click.option("--config", type=click.Path(dir_okay=False), help="A MindFormers predict YAML."),
        click.option("--model", type=click.Path(file_okay=False),
                     help="A model folder with its tokenizer (ours, or Hugging Face's: read as it is)."),
        click.option("--load_checkpoint", help="Weights: our folder or file, a MindFormers .ckpt, a Hugging Face "
                                               "folder (read as it is)."),
        click.option("--tokenizer", "--vocab_file", "vocab_file",
                     help="Tokenizer file or folder (with --config: the YAML's processor.tokenizer.vocab_file)."),
        click.option("--register_path", type=click.Path(file_okay=False),
                     help="Folder of the modules the YAML's auto_register keys name (imported only with this flag)."),
        click.option("--run_mode", type=click.Choice(["predict"]), default=None,
                     help="run_mindformer.py's run_mode: predict is the only one here (training is mf-train's)."),
        click.option("--use_parallel", type=click.BOOL, default=None,
                     help="run_mindformer.py's use_parallel: false (one device) is the only value here."),
        click.option("--auto_trans_ckpt", type=click.BOOL, default=None,
                     help="MindFormers' flag: re-shard load_checkpoint for the parallel layout (with --use_parallel; "
                          "one device loads it whole)."),
        click.option("--device_id", type=int, default=None, help="MindFormers' flag: context.device_id."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a YAML key, e.g. model.model_config.seq_length=512 (repeatable); an unknown "
                          "key is an error."),
        click.option("--max_new_tokens", type=int, help="Tokens to generate at most after the prompt."),
        click.option("--max_length", type=int, help="Prompt plus generated tokens at most."),
        click.option("--min_new_tokens", type=int, help="Tokens to generate before eos may end the text."),
        click.option("--do_sample", type=click.BOOL, is_flag=False, flag_value=True, default=None,
                     help="Sample (alone or 'true') or greedy ('false'); default: the model config's."),
        click.option("--top_k", type=int, help="Sample from the k most likely tokens."),
        click.option("--top_p", type=float, help="Sample from the smallest set of tokens of this probability."),
        click.option("--temperature", type=float, help="Divide the logits by this before sampling."),
        click.option("--repetition_penalty", type=float, help="Penalise tokens already in the text (1.0: none)."),
        click.option("--seed", type=int, help="Seed of the sampling (the same seed gives the same text)."),
        click.option("--use_past", type=click.BOOL, default=None,
                     help="Decode with the KV cache (true, the default) or recompute the whole text each step."),
        click.option("--stop", "stop_strings", multiple=True, help="Stop string (repeatable)."),
    ]
    return functools.reduce(lambda g, option: option(g), reversed(options), f)


GEN_KEYS = ("max_new_tokens", "max_length", "min_new_tokens", "do_sample", "top_k", "top_p", "temperature",
            "repetition_penalty", "seed", "use_past", "stop_strings")


def _setup(kwargs, check=None):
    """(network, tokenizer, generation kwargs) from the shared flags; ``check(tokenizer)`` runs before the
    network is built."""
    from mf_generate.predict import load_task

    gen = {k: kwargs.pop(k) for k in GEN_KEYS}
    gen["stop_strings"] = list(gen["stop_strings"]) or None
    model, tokenizer, _ = load_task(**kwargs, check_tokenizer=check)
    return model, tokenizer, gen


@main.command()
@model_options
@click.option("--predict_data", multiple=True, help="Prompt text (repeatable; more texts may follow it).")
@click.option("--predict_file", type=click.Path(dir_okay=False), help="A file of prompts, one per line.")
@click.option("--predict_batch_size", type=int, default=None, help="Prompts per batch (default: the model's).")
@click.option("--stream", is_flag=True, help="Print tokens as they are generated.")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="Also write FILE.jsonl: prompt, completion, their ids and token counts, one line a prompt.")
@click.argument("texts", nargs=-1)
def run(predict_data: tuple[str, ...], predict_file: str | None, predict_batch_size: int | None, stream: bool,
        output: str | None, texts: tuple[str, ...], **kwargs: Any) -> None:
    """Generate text for prompts (run_mindformer.py --run_mode predict): each prompt, a `--- completion ---`
    line, its completion; a summary with exact token counts and tokens/s on stderr.

    \b
    Example:
      mf-generate run --model llama_tiny --predict_file prompts.txt --output completions.jsonl
    """
    from mf_generate.generate import speed_text
    from mf_generate.pipeline import TextGenerationPipeline
    from mf_generate.predict import read_prompts
    from mf_generate.report import CompletionStreamer, Report

    prompts = read_prompts(list(predict_data) + list(texts), predict_file)
    model, tokenizer, gen = _setup(kwargs)
    pipe = TextGenerationPipeline(model, tokenizer, batch_size=predict_batch_size, **gen)
    pipe.check(prompts)
    click.echo(pipe.generation_config.describe(), err=True)
    step, timing = (1 if stream else pipe.batch_size), {}
    with Report(tokenizer, output, len(prompts), progress=bool(predict_file) and not stream) as report:
        for start in range(0, len(prompts), step):
            batch = prompts[start:start + step]
            streamer = None
            if stream:
                report.header(batch[0])
                streamer = CompletionStreamer(tokenizer)
            pairs = pipe.generate_ids(batch, streamer=streamer, timing=timing)
            for prompt, (prompt_ids, output_ids) in zip(batch, pairs):
                report.add(prompt, prompt_ids, output_ids, printed=stream)
    click.echo(report.summary() + speed_text(timing), err=True)


@main.command()
@model_options
@click.option("--chat_template", type=click.Choice(TEMPLATES), default="tokenizer", show_default=True,
              help="Prompt format: alpaca, llama3, or the tokenizer's own template.")
@click.option("--system", help="A system message that opens the conversation.")
def chat(chat_template: str, system: str | None, **kwargs: Any) -> None:
    """Talk to a model: each line you type is a user turn; /clear forgets the history, /exit (or EOF) quits.

    The oldest exchanges are dropped when the conversation outgrows the model's seq_length. A tokenizer without
    a chat template needs --chat_template alpaca or llama3 (checked before the model loads).

    \b
    Example:
      mf-generate chat --model llama_tiny --chat_template alpaca --system "Be brief."
    """
    from mf_generate.chat import Chat, check_template

    template = None if chat_template == "tokenizer" else chat_template
    model, tokenizer, gen = _setup(kwargs, check=lambda tok: check_template(tok, template))
    session = Chat(model, tokenizer, template, system, **gen)
    click.echo(session.config.describe(), err=True)
    click.echo("mf-generate chat: type a message and Enter; /clear forgets the conversation, /exit quits", err=True)
    while True:
        try:
            line = input("user> ")
        except EOFError:
            break
        if line.strip() == "/exit":
            break
        if line.strip() == "/clear":
            session.clear()
            continue
        if line.strip():
            click.echo("assistant> ", nl=False)
            try:
                session.reply(line)
            except MFError as e:
                click.echo(f"Error: {e}", err=True)
