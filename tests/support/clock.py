"""A clock tests drive by hand, for code that takes ``clock`` and ``sleep`` callables."""


class Clock:
    """Virtual time: only ``sleep`` moves it (and ``advance``)."""

    def __init__(self):
        self.now = 1000.0
        self.slept = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.slept += seconds

    def advance(self, seconds):
        self.now += seconds
