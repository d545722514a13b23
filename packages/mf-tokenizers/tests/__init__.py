"""mf-tokenizers's tests, a package: test modules import their helpers package-relative (`from .helpers import ...`)."""
