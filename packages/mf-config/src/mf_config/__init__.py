"""mf-config: MindFormers-compatible task configs, model and parallel config classes, the registry.

Imports neither mindspore nor torch.
"""

__version__ = "0.1.0"

from mf_config.config import MFConfig, deep_merge, load_config, parse_override
from mf_config.errors import ConfigError, ConfigKeyError, MFError
from mf_config.model_configs import (
    BloomConfig,
    GPT2Config,
    LlamaConfig,
    MixtralConfig,
    MoEConfig,
    ParallelConfig,
    model_config_from_section,
)
from mf_config.pretrained import PretrainedConfig
from mf_config.registry import build, register

__all__ = [
    "BloomConfig", "ConfigError", "ConfigKeyError", "GPT2Config", "LlamaConfig", "MFConfig", "MFError",
    "MixtralConfig", "MoEConfig", "ParallelConfig", "PretrainedConfig", "build", "deep_merge", "load_config",
    "model_config_from_section", "parse_override", "register",
]
