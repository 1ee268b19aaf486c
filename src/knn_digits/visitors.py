"""Visitors of a public app: who is who, and how much each may teach.

When ``knn-digits app --public`` serves other people, each visitor's taught digits are theirs:
used for their answers only, listed, exported and deleted by them only. A visitor is a random
token (no accounts). The token is a secret — whoever holds it is that visitor — so it is long
and random, and the store never sees it: samples are filed under the token's SHA-256 (the
visitor's *key*), so a copy of the store gives nobody a way in.

Within one page or ``gradio_client`` session, the visitor is known by gradio's session id,
which gradio sends with every call (its own per-session state relies on it alike). Across
reloads and restarts, the browser keeps the token in its local storage and hands it back when
the page loads (:meth:`Visitors.restore`); a ``gradio_client`` session is one visitor for its
lifetime.

:class:`Visitors` hands out each visitor's view of the app (built by the caller, the app's
business) and enforces :class:`Limits`. This module never imports gradio.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from knn_digits.errors import LimitError
from knn_digits.store import SampleStore

__all__ = ["Limits", "Visitors", "is_loopback", "new_token", "visitor_key"]

TOKEN_BYTES = 32  # 256 random bits: never guessed, whatever the number of tries
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32): 43 characters of base64url


def new_token() -> str:
    """A fresh visitor token: 43 URL-safe characters from the system's random source."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def visitor_key(token: object) -> str | None:
    """The key a visitor's samples are filed under (hex SHA-256), or None for a malformed token.

    >>> visitor_key("not a token") is None
    True
    """
    if not isinstance(token, str) or not _TOKEN.fullmatch(token):
        return None
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    """Whether serving on ``host`` reaches this machine only (127.0.0.0/8, ::1, localhost).

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may be reachable from the network
        return False


@dataclass(frozen=True)
class Limits:
    """What one visitor, and all together, may store on a public app."""

    # A person teaching by hand manages a few a minute; a script poisoning its own view fast
    # only costs the server CPU (each teaching re-prepares the digit and six variants).
    teach_per_minute: int = 30
    # 500 samples of a person's own are more than the personalisation benchmark ever needed
    # (52 teachings for ten writers); with variants, a visitor's view then holds 3,500 digits.
    samples_per_visitor: int = 500
    # 50,000 samples are 39 MB in the store: the disk a public app may fill, whoever asks.
    samples_in_total: int = 50_000

    def __post_init__(self) -> None:
        for name in ("teach_per_minute", "samples_per_visitor", "samples_in_total"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


View = TypeVar("View")
WINDOW_SECONDS = 60.0
SESSIONS = 10_000  # sessions remembered (~2 MB); the oldest beyond that start afresh


class Visitors(Generic[View]):
    """Each visitor's view of the app, made on first use and kept for the busiest few.

    Args:
        store: the sample store (the owner's view; each visitor gets ``for_visitor(key)``).
        build: ``build(visitor's store, admit)`` makes a visitor's view; the view calls
            ``admit()`` before storing a taught sample, which raises :class:`LimitError` when
            a limit is reached.
        limits: the limits to enforce.
        keep: views kept in memory; others are rebuilt from the store when the visitor
            returns (a view holds the visitor's digits and variants, up to ~15 MB).
        clock: seconds, for the rate limit (a fake one in tests).
    """

    def __init__(
        self,
        store: SampleStore,
        build: Callable[[SampleStore, Callable[[], None]], View],
        *,
        limits: Limits | None = None,
        keep: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.limits = limits or Limits()
        self._build = build
        self._keep = keep
        self._clock = clock
        self._lock = threading.Lock()
        self._views: OrderedDict[str, View] = OrderedDict()  # least recently used first
        self._sessions: OrderedDict[str, str] = OrderedDict()  # gradio session → token
        self._taught: dict[str, deque[float]] = {}  # key → times of the last minute's teachings

    def restore(self, session: str | None, token: object) -> tuple[View, str]:
        """A page (re)loaded with the token its browser kept: this session is that visitor.

        Without a valid token the session stays the visitor it already is (it may have
        taught before the page finished loading), or becomes a new one. Returns (their view,
        their token).
        """
        with self._lock:
            if visitor_key(token) is None:
                token = (self._sessions.get(session) if session else None) or new_token()
            assert isinstance(token, str)
            if session:
                self._sessions[session] = token
                self._sessions.move_to_end(session)
                while len(self._sessions) > SESSIONS:
                    self._sessions.popitem(last=False)
        return self._view(token), token

    def for_session(self, session: str | None) -> View:
        """The view of the visitor this session is (a new visitor for a new session)."""
        with self._lock:
            token = self._sessions.get(session) if session else None
        return self._view(token) if token else self.restore(session, None)[0]

    def _view(self, token: str) -> View:
        key = visitor_key(token)
        assert key is not None
        with self._lock:
            if key in self._views:
                self._views.move_to_end(key)
                return self._views[key]
        # Built outside the lock: a returning visitor's view reads their samples from the store.
        built = self._build(self.store.for_visitor(key), lambda: self._admit(key))
        with self._lock:
            view = self._views.setdefault(key, built)
            self._views.move_to_end(key)
            while len(self._views) > self._keep:
                self._views.popitem(last=False)
        return view

    def _admit(self, key: str) -> None:
        """Count one teaching by ``key``, or refuse it with a message that says why."""
        limits = self.limits
        with self._lock:
            now = self._clock()
            recent = self._taught.setdefault(key, deque())
            while recent and recent[0] <= now - WINDOW_SECONDS:
                recent.popleft()
            for other, times in list(self._taught.items()):
                if other != key and (not times or times[-1] <= now - WINDOW_SECONDS):
                    del self._taught[other]  # only visitors active this minute are remembered
            if len(recent) >= limits.teach_per_minute:
                wait = max(1, round(recent[0] + WINDOW_SECONDS - now))
                raise LimitError(
                    f"That's {limits.teach_per_minute} teachings in a minute, the most this "
                    f"shared app takes: wait {wait} s and teach again."
                )
            if len(self.store.for_visitor(key)) >= limits.samples_per_visitor:
                raise LimitError(
                    f"You have {limits.samples_per_visitor} samples, the most one visitor may "
                    "keep here: delete some to teach more."
                )
            if self.store.count_all() >= limits.samples_in_total:
                raise LimitError(
                    "This shared app holds all the samples it can keep: no more can be taught "
                    "for now."
                )
            recent.append(now)
