"""Signals during a benchmark run: SIGTERM stops it like Ctrl-C, and a destroy in progress
is never cut short by a second signal.

A run rents instances that bill by the second, so the one thing an interruption must not
do is skip the `finally` that destroys the current session. Python turns SIGINT into
KeyboardInterrupt but dies on SIGTERM without unwinding; `interrupts_unwind` makes SIGTERM
raise KeyboardInterrupt too (unless something else, such as Dagster, already handles it).
`shielded` holds signals back while a session is being destroyed and re-raises one after.
Both only act in the main thread, where Python delivers signals.
"""

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by {signal_name(signum)}")


@contextmanager
def interrupts_unwind() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt inside the block (when nobody else handles it)."""
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Shield:
    received: list[int] = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return bool(self.received)


@contextmanager
def shielded() -> Iterator[Shield]:
    """Signals that arrive inside the block are recorded, not acted on; the caller asks
    `shield.interrupted` afterwards and stops then."""
    shield = Shield()
    if not _in_main_thread():
        yield shield
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        shield.received.append(signum)

    previous = {number: signal.signal(number, hold) for number in _SIGNALS}
    try:
        yield shield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def describe_interrupt(interrupt: BaseException) -> str:
    """ "stopped by SIGTERM" (our handler's message), "SIGINT" for a plain Ctrl-C, else the
    exception's own words or type (Dagster's interruption)."""
    if str(interrupt):
        return str(interrupt)
    return "SIGINT" if isinstance(interrupt, KeyboardInterrupt) else type(interrupt).__name__
