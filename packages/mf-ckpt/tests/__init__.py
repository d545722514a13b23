"""mf-ckpt's tests, a package: test modules import their helpers package-relative (`from .hf_models import ...`)."""
