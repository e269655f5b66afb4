"""mmbench: fast, exact, reproducible evaluation of multimodal models.

Heavy dependencies (torch, transformers) are imported lazily by the modules that need them, so
`import mmbench` and `mmbench --help` stay instant.
"""

__version__ = "0.1.0"
