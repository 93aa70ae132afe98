"""The error every user-caused problem of the dataset builder raises."""


class BuildError(ValueError):
    """The dataset cannot be built as asked; the message says what was wrong and what to do."""
