"""A one-line progress bar on stderr: count, percentage, rate and time left."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Redraws `label  done/total  pct  rate/s  ETA mm:ss` in place on a terminal.

    When stderr is not a terminal (a log file, CI), prints a full line at most
    every `log_interval` seconds, and always at the end.
    """

    def __init__(self, total: int, label: str, enabled: bool = True, stream=None, log_interval: float = 10.0):
        self.total = max(0, int(total))
        self.label = label
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = 0.1 if self.interactive else log_interval
        self.done = 0
        self.start = time.monotonic()
        self.last_draw = 0.0

    def update(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and (now - self.last_draw >= self.interval or self.done >= self.total):
            self.last_draw = now
            self._draw(now)

    def close(self) -> None:
        if self.enabled and self.interactive:
            self.stream.write("\n")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-9, (now or time.monotonic()) - self.start)
        rate = self.done / elapsed
        percent = 100.0 * self.done / self.total if self.total else 100.0
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta = "--:--" if left == float("inf") else f"{int(left) // 60:02d}:{int(left) % 60:02d}"
        return f"{self.label} {self.done}/{self.total} {percent:5.1f}% {rate:7.1f} img/s ETA {eta}"

    def _draw(self, now: float) -> None:
        text = self.line(now)
        self.stream.write(("\r" + text) if self.interactive else (text + "\n"))
        self.stream.flush()
