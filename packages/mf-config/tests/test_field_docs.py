"""Every config field says what it means, and `mf-config show --doc` prints it beside the key."""

import re

import pytest
import yaml

import mf_config.family_specs  # noqa: F401  (registers every family's config class)
from mf_config import registry
from mf_config.field_docs import KEY_DOCS
from mf_config.fields import Field
from mf_config.model_configs import GPT2Config, LlamaConfig, ParallelConfig
from mf_config.pretrained import PretrainedConfig
from mf_config.schema import SCHEMA, ListOf, ModelConfigSection, model_config_fields
from mf_config.spec import config_classes

from .helpers import SHARED, write


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def config_classes_everywhere():
    """Every config class: the subclasses of PretrainedConfig, the registry's "config" kind (entry points of
    other packages included) and the families' classes."""
    found = set(_subclasses(PretrainedConfig)) | set(config_classes().values())
    found |= {registry.get("config", name) for name in registry.known("config")}
    return sorted(found, key=lambda c: c.__name__)


def test_every_config_field_has_a_one_line_doc():
    classes = config_classes_everywhere()
    assert {"LlamaConfig", "ParallelConfig", "MoEConfig", "LoraConfig"} <= {c.__name__ for c in classes}
    fields = [(cls.__name__, name, field) for cls in classes for name, field in cls.fields.items()]
    assert len(fields) > 100
    bad = [f"{cls}.{name}: {field.doc!r}" for cls, name, field in fields
           if not field.doc.strip() or "\n" in field.doc or len(field.doc) > 100]
    assert not bad, "fields without a one-line doc (at most 100 characters):\n" + "\n".join(bad)


def _schema_entry(dotted):
    spec = SCHEMA
    for part in dotted.split("."):
        spec = spec.item if isinstance(spec, ListOf) else spec
        if isinstance(spec, ModelConfigSection):
            spec = {"type": None, **model_config_fields(LlamaConfig)}
        assert isinstance(spec, dict) and part in spec, f"KEY_DOCS names {dotted}, which the schema lacks"
        spec = spec[part]
    return spec


@pytest.mark.parametrize("dotted", sorted(KEY_DOCS))
def test_key_docs_name_keys_of_the_schema_that_no_field_documents(dotted):
    entry = _schema_entry(dotted)
    assert not (isinstance(entry, Field) and entry.doc), f"{dotted}: its field's doc would be shadowed"
    assert KEY_DOCS[dotted].strip() and "\n" not in KEY_DOCS[dotted] and len(KEY_DOCS[dotted]) <= 100


def _strip_docs(text):
    """The text without the comments --doc adds: whole comment lines, and '  # ...' after a key's line."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("# ")]
    return "\n".join(re.sub(r" *  # [^#]*$", "", line) for line in lines) + "\n"


def _doc_line(text, key):
    return next(line for line in text.splitlines() if line.lstrip().startswith(f"{key}:"))


@pytest.mark.parametrize("name", SHARED)
def test_show_doc_is_show_plus_comments(run_cli, yaml_dir, name):
    shown, documented = run_cli("show", yaml_dir / name), run_cli("show", "--doc", yaml_dir / name)
    assert shown.exit_code == 0 and documented.exit_code == 0, documented.output
    assert yaml.safe_load(documented.output) == yaml.safe_load(shown.output)
    assert _strip_docs(documented.output) == shown.output
    assert documented.output.count("  # ") > 40


def test_show_doc_puts_each_class_fields_doc_on_its_key(run_cli, yaml_dir):
    llama = run_cli("show", "--doc", yaml_dir / "run_llama3_8b_8k_800T_A2_64G.yaml",
                    "--set", "model.model_config.num_layers=2").output
    assert re.fullmatch(r" +num_layers: 2 +# " + re.escape(LlamaConfig.fields["num_layers"].doc),
                        _doc_line(llama, "num_layers"))
    assert _doc_line(llama, "data_parallel").endswith("# " + ParallelConfig.fields["data_parallel"].doc)
    assert _doc_line(llama, "trainer").endswith("# " + KEY_DOCS["trainer"])
    gpt2 = run_cli("show", "--doc", yaml_dir / "run_gpt2.yaml").output
    assert _doc_line(gpt2, "num_layers").endswith("# " + GPT2Config.fields["num_layers"].doc)
    assert GPT2Config.fields["num_layers"].doc != LlamaConfig.fields["num_layers"].doc


def test_show_doc_comments_a_long_value_above_its_key_and_leaves_unknown_keys_plain(run_cli, tmp_path):
    path = write(tmp_path / "task.yaml", "model:\n  model_config:\n    type: GPT2Config\n"
                 f"    checkpoint_name_or_path: {' '.join(['word'] * 40)}\n    my_own_key: 1\n"
                 "  arch:\n    type: GPT2LMHeadModel\nmy_section:\n  a: 1\n")
    shown, documented = run_cli("show", path), run_cli("show", "--doc", path)
    lines = documented.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.lstrip().startswith("checkpoint_name_or_path:"))
    assert lines[at - 1] == "    # " + GPT2Config.fields["checkpoint_name_or_path"].doc
    assert _doc_line(documented.output, "my_own_key") == "    my_own_key: 1"
    assert _doc_line(documented.output, "my_section") == "my_section:"
    assert _strip_docs(documented.output) == shown.output
    assert yaml.safe_load(documented.output) == yaml.safe_load(shown.output)


def test_show_doc_and_json_together_is_one_line_and_exit_2(run_cli, yaml_dir):
    result = run_cli("show", "--doc", "--json", yaml_dir / "run_gpt2.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["Error: --doc comments YAML; JSON has no comments "
                                                  "(use one of --doc, --json)"]
