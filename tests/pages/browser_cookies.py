"""A browser's cookie jar for AppTest runs of app.py.

AppTest has no browser: no cookies, and each ``run()`` comes over a new stand-in connection (so, as for a
browser that reconnects, only the sign-in cookie keeps a user signed in). ``CookieJar`` plays the browser's
part honestly: after a run it does what the page's cookie script would do (``ui.browser_cookie``'s job in
session state: set the token, or clear it while it still holds that token), and runs send the active jar's
token as the handshake's cookie (``browser_cookie.sent_token``). The ``jar`` fixture is the test's browser;
``with other.active():`` runs as another one (``CookieJar()``: a browser without cookies).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from streamlit.testing.v1 import AppTest

from ui import browser_cookie


class CookieJar:
    current: CookieJar | None = None  # the browser the next runs come from

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def take(self, at: AppTest) -> AppTest:
        """Apply the cookie job the last run left for the browser; returns ``at``."""
        job = at.session_state.get(browser_cookie.JOB_KEY, None)
        if job and job[0] == "set":
            self.token = job[1]
        elif job and job[0] == "clear" and self.token == job[1]:
            self.token = None
        return at

    def run(self, at: AppTest) -> AppTest:
        """``at.run()`` from this browser, then the browser's side of the cookie."""
        with self.active():
            return self.take(at.run())

    @contextmanager
    def active(self) -> Iterator[CookieJar]:
        before, CookieJar.current = CookieJar.current, self
        try:
            yield self
        finally:
            CookieJar.current = before


def _sent() -> str | None:
    return CookieJar.current.token if CookieJar.current is not None else None


@pytest.fixture(name="jar")
def jar_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[CookieJar]:
    """The test's browser: its cookies go with every AppTest run (unless another jar is ``active``)."""
    cookies = CookieJar()
    monkeypatch.setattr(browser_cookie, "sent_token", _sent)
    CookieJar.current = cookies
    yield cookies
    CookieJar.current = None
