"""The one exception the data layer raises for input it cannot use (the message says what to do)."""


class DataError(ValueError):
    """The dataset cannot be read at all (missing path, unsupported type, Hub dataset unavailable)."""
