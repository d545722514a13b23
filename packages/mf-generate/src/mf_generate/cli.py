"""The `mf-generate` command: ``run`` (``run_mindformer.py --run_mode predict``) and ``chat``."""

import functools
import time

import click

from mf_config.cli_support import group
from mf_config.errors import MFError
from mf_generate import __version__

TEMPLATES = ("alpaca", "llama3", "tokenizer")


@group(__version__, "mf-generate")
def main():
    """generate() with KV cache, sampling, streaming, pipelines; `mf-generate run`."""


def model_options(f):
    """The flags that name the model, its weights and tokenizer, as run_mindformer.py spells them."""
    options = [
        click.option("--config", type=click.Path(dir_okay=False), help="A MindFormers predict YAML."),
        click.option("--model", type=click.Path(file_okay=False),
                     help="A model folder with its tokenizer (ours, or Hugging Face's: read as it is)."),
        click.option("--load_checkpoint", help="Weights: our folder or file, a MindFormers .ckpt, a Hugging Face "
                                               "folder (read as it is)."),
        click.option("--vocab_file", help="Tokenizer file, when the YAML names none."),
        click.option("--register_path", type=click.Path(file_okay=False),
                     help="Folder of the modules the YAML's auto_register keys name (imported only with this flag)."),
        click.option("--run_mode", type=click.Choice(["predict"]), default=None),
        click.option("--use_parallel", type=click.BOOL, default=None),
        click.option("--auto_trans_ckpt", type=click.BOOL, default=None,
                     help="MindFormers' flag: re-shard load_checkpoint for the parallel layout (with --use_parallel; "
                          "one device loads it whole)."),
        click.option("--device_id", type=int, default=None, help="MindFormers' flag: context.device_id."),
        click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a YAML key, e.g. model.model_config.seq_length=512 (repeatable)."),
        click.option("--max_new_tokens", type=int), click.option("--max_length", type=int),
        click.option("--min_new_tokens", type=int),
        click.option("--do_sample", type=click.BOOL, is_flag=False, flag_value=True, default=None,
                     help="Sample (alone or 'true') or greedy ('false'); default: the model config's."),
        click.option("--top_k", type=int), click.option("--top_p", type=float),
        click.option("--temperature", type=float), click.option("--repetition_penalty", type=float),
        click.option("--seed", type=int), click.option("--use_past", type=click.BOOL, default=None),
        click.option("--stop", "stop_strings", multiple=True, help="Stop string (repeatable)."),
    ]
    return functools.reduce(lambda g, option: option(g), reversed(options), f)


GEN_KEYS = ("max_new_tokens", "max_length", "min_new_tokens", "do_sample", "top_k", "top_p", "temperature",
            "repetition_penalty", "seed", "use_past", "stop_strings")


def _setup(kwargs):
    """(network, tokenizer, generation kwargs) from the shared flags."""
    from mf_generate.predict import load_task

    gen = {k: kwargs.pop(k) for k in GEN_KEYS}
    gen["stop_strings"] = list(gen["stop_strings"]) or None
    model, tokenizer, _ = load_task(**kwargs)
    return model, tokenizer, gen


@main.command()
@model_options
@click.option("--predict_data", multiple=True, help="Prompt text (repeatable; more texts may follow it).")
@click.option("--predict_file", type=click.Path(dir_okay=False), help="A file of prompts, one per line.")
@click.option("--predict_batch_size", type=int, default=None, help="Prompts per batch (default: the model's).")
@click.option("--stream", is_flag=True, help="Print tokens as they are generated.")
@click.argument("texts", nargs=-1)
def run(predict_data, predict_file, predict_batch_size, stream, texts, **kwargs):
    """Generate text for prompts (run_mindformer.py --run_mode predict); prints prompt + completion per prompt."""
    from mf_generate.generate import speed_text
    from mf_generate.pipeline import TextGenerationPipeline
    from mf_generate.predict import read_prompts
    from mf_generate.streamers import TextStreamer

    prompts = read_prompts(list(predict_data) + list(texts), predict_file)
    model, tokenizer, gen = _setup(kwargs)
    pipe = TextGenerationPipeline(model, tokenizer, batch_size=predict_batch_size, **gen)
    pipe.check(prompts)
    click.echo(pipe.generation_config.describe(), err=True)
    start, timing = time.perf_counter(), {}
    if stream:
        streamer = TextStreamer(tokenizer, skip_special_tokens=True)
        results = [pipe(p, streamer=streamer, timing=timing)[0] for p in prompts]
    else:
        results = pipe(prompts, timing=timing)
        for r in results:
            click.echo(r["text_generation_text"][0])
    seconds = time.perf_counter() - start
    new = sum(len(tokenizer.encode(r["text_generation_text"][0])) - len(tokenizer.encode(p))
              for r, p in zip(results, prompts))
    click.echo(f"{len(prompts)} prompt(s), about {new} new tokens in {seconds:.2f} s{speed_text(timing)}", err=True)



@main.command()
@model_options
@click.option("--chat_template", type=click.Choice(TEMPLATES), default="tokenizer",
              help="Prompt format: alpaca, llama3, or the tokenizer's own template (default).")
@click.option("--system", help="A system message that opens the conversation.")
def chat(chat_template, system, **kwargs):
    """Talk to a model: each line you type is a user turn; /clear forgets the history, /exit (or EOF) quits.

    The oldest exchanges are dropped when the conversation outgrows the model's seq_length."""
    from mf_generate.chat import Chat

    model, tokenizer, gen = _setup(kwargs)
    session = Chat(model, tokenizer, None if chat_template == "tokenizer" else chat_template, system, **gen)
    click.echo(session.config.describe(), err=True)
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
