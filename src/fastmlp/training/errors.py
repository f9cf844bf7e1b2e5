"""What a fit raises when training itself fails."""


class DivergenceError(FloatingPointError):
    """Training produced a non-finite objective or parameter; lower the
    learning rate. ``epoch`` and ``step`` (0-based, within the epoch) say
    where; the model is left as it was after the last finite step."""

    def __init__(self, message, epoch=None, step=None):
        super().__init__(message)
        self.epoch = epoch
        self.step = step
