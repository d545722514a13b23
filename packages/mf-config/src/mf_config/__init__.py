"""mf-config: MindFormers-compatible task configs, model and parallel config classes, the model family specs,
presets and the registry.

Imports neither mindspore nor torch. Importing it registers mf's model families (``mf_config.family_specs``).
"""

__version__ = "0.1.0"

from mf_config import family_specs  # noqa: F401  importing it registers mf's families
from mf_config.config import MFConfig, deep_merge, parse_override
from mf_config.errors import ConfigError, ConfigKeyError, MFError
from mf_config.model_configs import (
    BloomConfig,
    GPT2Config,
    LlamaConfig,
    MixtralConfig,
    MoEConfig,
    ParallelConfig,
)
from mf_config.presets import preset, presets
from mf_config.pretrained import PretrainedConfig
from mf_config.registry import build, register
from mf_config.rules import Fused, Rename, Stack
from mf_config.schema import load_config
from mf_config.sources import ModelSource, identify, load_model_config, model_config_from_section
from mf_config.spec import (
    FamilySpec,
    families,
    family,
    family_of,
    param_shapes,
    part,
    register_family,
    register_part,
)

__all__ = [
    "BloomConfig", "ConfigError", "ConfigKeyError", "FamilySpec", "Fused", "GPT2Config", "LlamaConfig", "MFConfig",
    "MFError", "MixtralConfig", "MoEConfig", "ModelSource", "ParallelConfig", "PretrainedConfig", "Rename", "Stack",
    "build", "deep_merge", "families", "family", "family_of", "identify", "load_config", "load_model_config",
    "model_config_from_section", "param_shapes", "parse_override", "part", "preset", "presets", "register",
    "register_family", "register_part",
]
