"""mf-data: Alpaca/WikiText preprocessing to MindRecord and an indexed format; training datasets."""

__version__ = "0.1.0"
