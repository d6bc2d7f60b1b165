"""Pipelines: YAML configuration and the local streaming engine."""
from assay.pipeline.config import PipelineConfig, PipelineError, load_pipeline
from assay.pipeline.runner import run_pipeline

__all__ = ["PipelineConfig", "PipelineError", "load_pipeline", "run_pipeline"]
