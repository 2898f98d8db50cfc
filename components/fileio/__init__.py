"""components.fileio: the bottom layer every sqdm package may import for reading user files and writing outputs safely.

It imports no project package (``components``, ``workloads``, ``quant``, ``des`` and ``plots`` all sit above
it), so the dependency direction of the project is unchanged.

Reading:   check_input_file, check_yaml_file, read_input_bytes, read_input_text, load_json_text, load_yaml_text,
           safe_load_yaml (the project's own data files)
Writing:   check_output_path, check_output_folder, check_distinct_outputs, atomic_path, atomic_write_bytes,
           atomic_write_text
Schemas:   validation_message (one line from a pydantic ValidationError)
Limits:    components.fileio.limits (file sizes, nesting depth, YAML node count)
Errors:    InputFileError, OutputPathError (both ValueError, one-line messages)
"""
from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .errors import InputFileError, OutputPathError
from .inputs import (check_input_file, check_yaml_file, load_json_text, load_yaml_text, read_input_bytes,
                     read_input_text, safe_load_yaml)
from .outputs import IMAGE_SUFFIXES, check_distinct_outputs, check_output_folder, check_output_path
from .validation import validation_message

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "InputFileError", "OutputPathError",
           "check_input_file", "check_yaml_file", "load_json_text", "load_yaml_text", "read_input_bytes",
           "read_input_text", "IMAGE_SUFFIXES", "check_distinct_outputs", "check_output_folder", "check_output_path",
           "validation_message", "safe_load_yaml"]
