"""mf-train: Trainer, optimizers, LR schedules, callbacks, resume, LoRA; `mf-train run`.

Importing the package is light; the trainer (and mindspore) load on first use of a name below.
"""

from mf_config.lazy import lazy_exports

__version__ = "0.1.0"

_LAZY = {
    "Trainer": "mf_train.api",
    "CausalLanguageModelingTrainer": "mf_train.trainer",
    "TrainStep": "mf_train.step",
    "LossScale": "mf_train.step",
    "AdamW": "mf_train.optim",
    "AdamWeightDecay": "mf_train.optim",
    "FP32StateAdamWeightDecay": "mf_train.optim",
    "SGD": "mf_train.optim",
    "CosineWithWarmUpLR": "mf_train.schedules",
    "LinearWithWarmUpLR": "mf_train.schedules",
    "ConstantWarmUpLR": "mf_train.schedules",
    "PolynomialWithWarmUpLR": "mf_train.schedules",
    "MFLossMonitor": "mf_train.callbacks",
    "CheckpointMonitor": "mf_train.callbacks",
    "EvalCallBack": "mf_train.callbacks",
    "PerplexityMetric": "mf_train.evaluate",
    "TrainError": "mf_train.errors",
}

__all__ = [*_LAZY, "__version__"]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
