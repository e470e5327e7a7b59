"""The NVILA-Lite family: a native transformers implementation (family ``nvila_lite``) and the published
checkpoint's own remote code (family ``nvila_lite_remote``, opt-in). Importing the package registers both."""
from qvedbench.models.nvila_lite import adapter, remote  # noqa: F401  (registration)
