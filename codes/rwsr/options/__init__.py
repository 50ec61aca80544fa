from .loader import dump_options, load_options, read_yaml, validate  # noqa: F401
