import threading
import time

from core.background import Periodic


class Counter(Periodic):
    def __init__(self, fail_first: int = 0, step_first: bool = True) -> None:
        super().__init__(0.02)
        self.step_first = step_first
        self.calls = 0
        self.fail_first = fail_first
        self.done = threading.Event()

    def step(self) -> None:
        self.calls += 1
        if self.calls <= self.fail_first:
            raise OSError("the folder is gone for a moment")
        if self.calls >= 4:
            self.done.set()


def test_a_failing_step_is_kept_and_the_thread_goes_on():
    c = Counter(fail_first=2).start()
    try:
        assert c.done.wait(5)
        assert c.running and c.last_error is None  # cleared by the next good step
    finally:
        c.stop()
    assert not c.running


def test_the_error_is_kept_while_it_lasts():
    c = Counter(fail_first=10**6).start()
    try:
        deadline = time.time() + 5
        while c.last_error is None and time.time() < deadline:
            time.sleep(0.01)
        assert c.last_error == "OSError: the folder is gone for a moment"
    finally:
        c.stop()


def test_step_first_or_wait_first():
    now = Counter(step_first=True)
    later = Counter(step_first=False)
    later.interval_s = 10.0
    now.start()
    later.start()
    try:
        deadline = time.time() + 5
        while now.calls == 0 and time.time() < deadline:
            time.sleep(0.01)
        assert now.calls >= 1 and later.calls == 0
    finally:
        now.stop()
        later.stop()
    assert later.calls == 0  # stopped during its first wait: never stepped
