"""Every file format nnsolve reads or writes: scenario and network YAML, schedules and result
JSON, ONNX import, the scenario's JSON Schema, and atomic output files."""
