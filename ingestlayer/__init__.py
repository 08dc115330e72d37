"""ingestlayer: self-hosted event pipelines on Temporal."""

__version__ = "0.1.0"
