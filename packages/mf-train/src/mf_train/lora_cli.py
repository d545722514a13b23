"""``mf-train merge-lora``: a base model folder plus a LoRA adapter -> a plain model folder with the adapter merged.

The output (``config.json``, ``model.safetensors``, the base folder's tokenizer files and mf-ckpt's
``SHA256SUMS.json``) is what ``mf-generate run --model`` and ``mf-ckpt convert --reversed`` take.
"""

import shutil
import time
from pathlib import Path

import click

from mf_config.sources import CONFIG_NAME

# files of a model folder that are not its weights or config: the tokenizer and generation settings, copied over
COPIED = ("tokenizer_config.json", "tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt",
          "special_tokens_map.json", "added_tokens.json", "generation_config.json")


def _check_paths(base, adapter, output_dir):
    from mf_train.lora import LoraError  # imports mindspore: not at the CLI's start

    if not (base / CONFIG_NAME).is_file():
        raise LoraError(f"expected a model folder with {CONFIG_NAME} (ours or Hugging Face's)", file=base,
                        key="--base")
    if not adapter.exists():
        raise LoraError("no such adapter file or folder", file=adapter, key="--adapter")
    out = output_dir.resolve()
    for name, given in (("--base", base), ("--adapter", adapter)):
        inside = given.resolve()
        if out == inside or out in inside.parents or inside in out.parents:
            raise LoraError(f"the output would overwrite (or lie inside) the {name} input", file=output_dir,
                            key="--output_dir")
    if output_dir.exists() and not (output_dir.is_dir() and ((output_dir / CONFIG_NAME).is_file() or
                                                             not any(output_dir.iterdir()))):
        raise LoraError("exists and is not a model folder (not replaced)", file=output_dir, key="--output_dir")


def load_base(base):
    """The model in ``base``: our folder, or a Hugging Face one (read through the family's weight rules)."""
    from mf_models.auto import AutoModel

    return AutoModel.from_pretrained(base)


def merge_folder(base, adapter, output_dir):
    """Merge ``adapter`` into the model in ``base`` and write the plain model to ``output_dir``; returns
    (model, LoraConfig)."""
    from mf_ckpt.manifest import write_folder_manifest
    from mf_config.fileio import atomic_dir
    from mf_train.lora import merge_lora
    from mf_train.lora_io import load_lora

    base, adapter, output_dir = Path(base), Path(adapter), Path(output_dir)
    _check_paths(base, adapter, output_dir)
    model = load_base(base)
    load_lora(model, adapter)
    config = model.config.pet_config
    merge_lora(model)
    with atomic_dir(output_dir, inputs=[base, adapter]) as tmp:
        model.save_pretrained(tmp)
        for name in COPIED:
            if (base / name).is_file():
                shutil.copyfile(base / name, tmp / name)
        write_folder_manifest(tmp)
    return model, config


@click.command("merge-lora")
@click.option("--base", required=True, type=click.Path(path_type=Path),
              help="The base model folder: ours, or Hugging Face's (converted on the fly by mf-ckpt).")
@click.option("--adapter", required=True, type=click.Path(path_type=Path),
              help="The LoRA adapter: our folder (save_lora), a PEFT folder, or a MindFormers checkpoint file.")
@click.option("--output_dir", "--output-dir", "--output", "output_dir", required=True, type=click.Path(path_type=Path),
              help="Where the merged model folder goes (replaced atomically if it holds a model).")
def merge_lora_command(base: Path, adapter: Path, output_dir: Path) -> None:
    """Fold a LoRA adapter into its base model's weights: a plain model folder for mf-generate and mf-ckpt.

    \b
    Example:
      mf-train merge-lora --base llama2_7b_hf --adapter output/lora --output_dir llama2_7b_merged
    """
    start = time.perf_counter()
    model, config = merge_folder(base, adapter, output_dir)
    click.echo(f"merged LoRA (rank {config.lora_rank}, alpha {config.lora_alpha}, {config.target_modules}) into "
               f"{type(model).__name__} ({model.num_parameters():,} parameters): {output_dir} "
               f"in {time.perf_counter() - start:.1f} s")
