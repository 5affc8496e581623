"""What to run: Druid spec models and validation, the pipeline compiler, interval math,
capacity allocation and the streaming watermark."""

from specs.capacity import allocate_sub_tasks, free_slots
from specs.compiler import CompiledJob, PipelineTemplate, compile_job, compile_range, load_template
from specs.errors import CapacityError, SpecError, WatermarkError
from specs.intervals import Interval
from specs.model import Spec, check_spec, encode_spec, validate_spec
from specs.watermark import Watermark, clip_to_watermark, streaming_watermark

__all__ = [
    "CapacityError",
    "CompiledJob",
    "Interval",
    "PipelineTemplate",
    "Spec",
    "SpecError",
    "Watermark",
    "WatermarkError",
    "allocate_sub_tasks",
    "check_spec",
    "clip_to_watermark",
    "compile_job",
    "compile_range",
    "encode_spec",
    "free_slots",
    "load_template",
    "streaming_watermark",
    "validate_spec",
]
