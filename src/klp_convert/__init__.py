"""klp-convert: livepatch relocations for source-based kernel livepatch modules."""

__version__ = "0.1.0"
