"""ftwizard: a guided, memory-safe path from "should I fine-tune?" to a checked adapter."""

__version__ = "0.1.0"
