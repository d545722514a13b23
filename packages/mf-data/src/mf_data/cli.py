"""The `mf-data` command."""

import click

from mf_config.cli_support import group
from mf_data import __version__


@group(__version__, "mf-data")
def main() -> None:
    """Alpaca/WikiText preprocessing to MindRecord and an indexed format; training datasets."""


@main.command("alpaca-to-conversation")
@click.option("--input", "--data_path", "data_path", required=True, type=click.Path(dir_okay=False),
              help="Alpaca JSON file (alpaca_converter.py's --data_path).")
@click.option("--output", "--output_path", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Conversation JSON to write (alpaca_converter.py's --output_path).")
@click.option("--skip_bad", is_flag=True, help="Count and skip malformed records instead of stopping.")
def alpaca_to_conversation(data_path: str, output_path: str, skip_bad: bool) -> None:
    """Alpaca records to the {"id", "conversations": [human, gpt]} layout (alpaca_converter.py).

    \b
    Example:
      mf-data alpaca-to-conversation --input alpaca_data.json --output alpaca_conv.json
    """
    from mf_data.alpaca import convert_file

    counts = convert_file(data_path, output_path, skip_bad=skip_bad)
    click.echo(f"{counts['records']} conversations written to {output_path}, {counts['bad']} bad records skipped")


@main.command()
@click.option("--dataset_type", default="wiki", show_default=True, type=click.Choice(["wiki", "qa", "alpaca"]),
              help="wiki: WikiText tokens; qa: conversation JSON; alpaca: alpaca JSON.")
@click.option("--input", "--input_glob", "--input_file", "input_glob", required=True,
              help="Input file or glob (WikiText tokens, conversation or alpaca JSON); MindFormers' --input_glob.")
@click.option("--tokenizer", "--vocab_file", "tokenizer", default=None,
              help="Tokenizer file or folder, or a MindFormers YAML.")
@click.option("--model_file", default=None, help="llama_preprocess.py's spelling: the tokenizer model file (then "
              "its --tokenizer llama is only a name).")
@click.option("--seq_length", type=int, default=None, help="Model sequence length; records hold seq_length+1.")
@click.option("--max_length", type=int, default=None, help="The GPT-2 script's spelling: records of exactly "
              "max_length tokens (--seq_length N --exact_length).")
@click.option("--output", "--output_file", "output_file", required=True,
              help="MindRecord file, or the folder of an indexed dataset; MindFormers' --output_file.")
@click.option("--format", "fmt", default="mindrecord", show_default=True, type=click.Choice(["mindrecord", "indexed"]),
              help="MindRecord (MindSpore's, needs mindspore) or the framework-free indexed format.")
@click.option("--workers", default=1, show_default=True, type=int, help="Tokenizer processes.")
@click.option("--engine", type=click.Choice(["dask"]), default=None,
              help="Run the tokenizing as a Dask job (the mf-data[dask] extra).")
@click.option("--address", default=None, help="With --engine dask: the scheduler of a running cluster "
              "(tcp://HOST:8786); default: a local cluster of --workers processes.")
@click.option("--num_splits", default=1, show_default=True, type=int, help="MindRecord shards.")
@click.option("--data_columns", default=None, help="Comma-separated columns (default: input_ids for wiki, "
              "input_ids,labels for qa/alpaca); attention_mask on request.")
@click.option("--bos_token_id", type=int, default=None, help="Override the tokenizer's/YAML's bos id.")
@click.option("--eos_token_id", type=int, default=None, help="Override the tokenizer's/YAML's eos id.")
@click.option("--pad_token_id", type=int, default=None, help="Override the tokenizer's/YAML's pad id.")
@click.option("--ignore_token_id", type=int, default=None, help="Label of masked positions (default -100).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a key of a YAML --tokenizer, e.g. processor.tokenizer.vocab_file=tokenizer.model.")
@click.option("--exact_length", is_flag=True, help="Records of seq_length tokens (GPT-2 script) instead of +1.")
@click.option("--skip_bad", is_flag=True, help="Count and skip malformed records or lines instead of stopping.")
@click.option("--no_progress", is_flag=True, help="No progress bar.")
def preprocess(dataset_type: str, input_glob: str, tokenizer: str | None, model_file: str | None,
               seq_length: int | None, max_length: int | None, output_file: str, fmt: str, workers: int,
               engine: str | None, address: str | None, num_splits: int, data_columns: str | None,
               bos_token_id: int | None, eos_token_id: int | None, pad_token_id: int | None,
               ignore_token_id: int | None, overrides: tuple[str, ...], exact_length: bool, skip_bad: bool,
               no_progress: bool) -> None:
    """Tokenize wiki/qa/alpaca text into MindRecord or the indexed format; prints a summary line.

    MindFormers' scripts' spellings work too: --input_glob, --output_file, --input_file, --model_file
    (llama_preprocess.py), --max_length (the GPT-2 script).

    \b
    Example:
      mf-data preprocess --dataset_type alpaca --input alpaca_data.json --tokenizer tokenizer.model \
        --seq_length 4096 --output alpaca4096.mindrecord
    """
    from mf_data.errors import DataError
    from mf_data.preprocessing import preprocess as run

    tokenizer = model_file or tokenizer
    if tokenizer is None:
        raise DataError("missing: give --tokenizer PATH (or --model_file PATH)", key="tokenizer")
    if (seq_length is None) == (max_length is None):
        raise DataError("give one of --seq_length (records of seq_length+1) or --max_length (records of max_length)",
                        key="seq_length")
    if max_length is not None:
        seq_length, exact_length = max_length, True

    columns = [c.strip() for c in data_columns.split(",") if c.strip()] if data_columns else None
    ids = {"bos_token_id": bos_token_id, "eos_token_id": eos_token_id, "pad_token_id": pad_token_id,
           "ignore_token_id": ignore_token_id}
    summary = run(dataset_type, input_glob, tokenizer, seq_length, output_file, fmt=fmt, workers=workers,
                  num_splits=num_splits, columns=columns, special_ids=ids, skip_bad=skip_bad,
                  exact_length=exact_length, progress=not no_progress, overrides=overrides, engine=engine,
                  address=address)
    click.echo(summary.line())


@main.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--tokenizer", "--vocab_file", "tokenizer", default=None,
              help="Tokenizer to decode records (default: the one an indexed dataset names).")
@click.option("--show", default=2, show_default=True, type=int, help="Records to decode.")
def inspect(path: str, tokenizer: str | None, show: int) -> None:
    """Record count, columns, dtypes, length statistics and the first records decoded.

    \b
    Example:
      mf-data inspect alpaca4096.mindrecord --tokenizer tokenizer.model
    """
    from mf_data.inspect import inspect_lines

    for line in inspect_lines(path, tokenizer, show):
        click.echo(line)
