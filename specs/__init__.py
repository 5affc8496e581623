"""What to run: Druid spec models, the pipeline compiler and interval math."""

from specs.compiler import CompiledJob, PipelineTemplate, compile_job, load_template
from specs.errors import SpecError
from specs.intervals import Interval

__all__ = [
    "CompiledJob",
    "Interval",
    "PipelineTemplate",
    "SpecError",
    "compile_job",
    "load_template",
]
