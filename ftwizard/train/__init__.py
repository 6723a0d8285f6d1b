"""The training subprocess: `python -m ftwizard.train RUN [--resume]`. Imports torch; never Textual."""
