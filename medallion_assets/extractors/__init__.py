"""Extractors: each turns one kind of source into a stream of Arrow record batches."""

from medallion_assets.extractors.base import CheckResult, ExtractContext, Extractor
from medallion_assets.extractors.registry import create_extractor, register_extractor

__all__ = ["CheckResult", "ExtractContext", "Extractor", "create_extractor", "register_extractor"]
