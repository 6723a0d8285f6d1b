"""Pure core: no torch, no Textual. Everything here imports in milliseconds."""
