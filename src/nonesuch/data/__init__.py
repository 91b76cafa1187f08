"""Stage 1: messy images in, a clean multi-resolution dataset out."""

from nonesuch.data.dataset import Dataset, DatasetError, DatasetWriter, ImageRecord, write_subset
from nonesuch.data.ingest import IngestConfig, IngestSummary, ingest

__all__ = ["Dataset", "DatasetError", "DatasetWriter", "ImageRecord", "IngestConfig",
           "IngestSummary", "ingest", "write_subset"]
