"""A clock for the unit tests of code that waits: it stands in for time.monotonic and time.sleep."""


class FakeClock(object):
    """``clock`` reads the time (advancing it by ``step`` at each reading), ``sleep`` advances it:
    a wait takes no real time and its figures are exact."""

    def __init__(self, step=0.0):
        self.now = 0.0
        self.step = step

    def clock(self):
        self.now += self.step
        return self.now

    def sleep(self, seconds):
        self.now += seconds
