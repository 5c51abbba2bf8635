"""Whole data files: reading and writing rows (``formats``: CSV, TSV / NSMC, JSONL, JSON),
predicting a file a chunk at a time (``predictions``), uploads predicted in the background
(``jobs``) and how predictions score against a gold column (``evaluation``)."""

from .formats import DataFileError
from .predictions import BadRowError, FileReport, predict_file

__all__ = ["BadRowError", "DataFileError", "FileReport", "predict_file"]
