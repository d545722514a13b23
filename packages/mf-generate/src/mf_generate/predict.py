"""What ``mf-generate run`` / ``chat`` load, resolved as ``run_mindformer.py --run_mode predict`` does: the task
YAML (``--config``) or a model folder (``--model``), the weights (``--load_checkpoint`` or the YAML's
``load_checkpoint``), the tokenizer (the YAML's ``processor.tokenizer``, else the model or checkpoint folder),
and the MindSpore context (the YAML's ``context.mode``, 0 = graph by default, and ``device_target``)."""

from pathlib import Path

from mf_generate.errors import GenerationError
from mf_generate.loading import has_tokenizer, import_register_path, load_model


def load_task(config=None, model=None, load_checkpoint=None, register_path=None, vocab_file=None, overrides=(),
              use_parallel=None, run_mode=None, auto_trans_ckpt=None, device_id=None, check_tokenizer=None):
    """(network, tokenizer, task config or None) for the command-line sources; every mistake is a
    GenerationError naming the flag or YAML key. ``device_id`` is the context's (``context.device_id``);
    ``auto_trans_ckpt`` (re-shard the checkpoint for a parallel layout) has nothing to do on one device, as in
    MindFormers. ``check_tokenizer(tokenizer)`` runs before the network loads."""
    if config is None and model is None and load_checkpoint is None:
        raise GenerationError("name a model: --model DIR, --config YAML (with --load_checkpoint), or "
                              "--load_checkpoint FOLDER", key="model")
    if config is not None and model is not None:
        raise GenerationError("--model DIR is the short form of --config + --load_checkpoint; give one of them",
                              key="model")
    task = None
    if config is not None:
        from mf_config import load_config

        task = load_config(config, overrides)
        run_mode = run_mode or task.get("run_mode") or "predict"
        use_parallel = task.get("use_parallel") if use_parallel is None else use_parallel
        load_checkpoint = load_checkpoint or task.get("load_checkpoint") or None
    if run_mode not in (None, "predict"):
        raise GenerationError(f"mf-generate runs run_mode predict, not '{run_mode}' (training is mf-train's)",
                              key="run_mode")
    if use_parallel:  # under `mf-parallel launch`: the model split over the model-parallel ranks
        from mf_parallel.inference import require_launcher

        require_launcher(config)
    if register_path or task is not None:
        import_register_path(register_path, task)
    tokenizer = None
    if check_tokenizer is not None:  # a check that must fail before the (slow) network loads
        tokenizer = load_tokenizer(config, vocab_file, overrides, [model, load_checkpoint])
        check_tokenizer(tokenizer)
    started = {}

    def setup():  # after the weights are checked against the config, before the network is built
        set_context(task, device_id)
        if use_parallel:
            from mf_parallel.inference import start_for_task

            started["runtime"] = start_for_task(task)

    source = config or model or load_checkpoint
    net, _ = load_model(source, load_checkpoint, overrides if config else _folder_overrides(overrides), setup=setup)
    if use_parallel:
        from mf_parallel import parallelize

        net = parallelize(net, runtime=started["runtime"])
    if tokenizer is None:
        tokenizer = load_tokenizer(config, vocab_file, overrides, [model, load_checkpoint])
    return net, tokenizer, task


def _folder_overrides(overrides):
    """``--set model.model_config.KEY=V`` (YAML spelling) also works for a model folder's config.json."""
    prefix = "model.model_config."
    return [o[len(prefix):] if o.startswith(prefix) else o for o in overrides]


def load_tokenizer(config, vocab_file, overrides, folders):
    """The YAML's ``processor.tokenizer`` (``vocab_file`` from ``--vocab_file`` when given), else the first of
    ``folders`` that holds tokenizer files."""
    from mf_tokenizers import AutoTokenizer

    if config is not None:
        section = _tokenizer_section(config, overrides)
        if section is not None and (vocab_file or section.get("vocab_file") or section.get("tokenizer_file")):
            extra = [f"processor.tokenizer.vocab_file={vocab_file}"] if vocab_file else []
            return AutoTokenizer.from_pretrained(config, overrides=[*overrides, *extra])
    if vocab_file:
        return AutoTokenizer.from_pretrained(vocab_file)
    for folder in folders:
        if folder and has_tokenizer(folder):
            return AutoTokenizer.from_pretrained(folder)
    raise GenerationError("no tokenizer: give --tokenizer (--vocab_file), a processor.tokenizer.vocab_file in the "
                          "YAML, or a model folder with tokenizer files", key="tokenizer")


def _tokenizer_section(config, overrides):
    from mf_config import load_config

    processor = load_config(config, overrides).get("processor")
    return processor.get("tokenizer") if isinstance(processor, dict) else None


def set_context(task, device_id=None):
    """MindSpore's context from the YAML's ``context`` (``mode`` 0 graph / 1 PyNative, ``device_target``,
    ``device_id``, which ``--device_id`` replaces); graph mode without a YAML."""
    from mf_models.runtime import set_context as set_runtime

    context = dict((task or {}).get("context") or {})
    if device_id is not None:
        context["device_id"] = device_id
    set_runtime(context)


def read_prompts(predict_data, predict_file):
    """The prompts of ``--predict_data`` (texts) and ``--predict_file`` (one per line; blank lines skipped)."""
    prompts = list(predict_data or ())
    if predict_file:
        path = Path(predict_file)
        if not path.is_file():
            raise GenerationError("no such file", file=path, key="predict_file")
        prompts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not prompts:
        raise GenerationError("no prompts: give --predict_data TEXT... or --predict_file FILE", key="predict_data")
    for i, p in enumerate(prompts):
        if not p.strip():
            raise GenerationError(f"prompt {i} is empty", key="predict_data")
    return prompts
