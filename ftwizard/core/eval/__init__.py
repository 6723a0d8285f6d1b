"""Evaluation, pure half: metrics (metrics.py), which fit which task (tasks.py), running generated code under
limits (sandbox.py). Loading models and generating answers is in `ftwizard/train/checks/`."""
