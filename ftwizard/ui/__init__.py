"""The Textual app. Imports no torch: training runs in its own process."""
