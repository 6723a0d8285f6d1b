"""The run: typed config, run-directory layout, event/status schemas, launcher, service, diagnosis."""
