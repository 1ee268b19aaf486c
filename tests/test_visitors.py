"""Visitors: tokens and keys, sessions, the views kept, and the limits with their messages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from knn_digits.errors import LimitError
from knn_digits.store import SampleStore
from knn_digits.visitors import Limits, Visitors, is_loopback, new_token, visitor_key


@dataclass
class FakeView:
    """What the app would build: the visitor's store and the admission check."""

    store: SampleStore
    admit: Callable[[], None]

    def teach(self) -> None:
        self.admit()
        self.store.add(np.zeros((28, 28), np.uint8), 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def visitors_of(tmp_path: Path, clock: Clock, **limits: int) -> Visitors[FakeView]:
    store = SampleStore(tmp_path / "samples.sqlite3")
    return Visitors(store, FakeView, limits=Limits(**limits), keep=2, clock=clock)


def test_tokens_are_random_and_only_their_hash_is_a_key() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 43 for t in tokens)
    token = tokens.pop()
    key = visitor_key(token)
    assert key is not None and len(key) == 64 and token not in key
    assert visitor_key(token) == key  # the same visitor, every time


@pytest.mark.parametrize(
    "token", [None, "", "test", 42, "a" * 42, "a" * 44, "a" * 42 + "!", "../" * 15, ["x"]]
)
def test_malformed_tokens_have_no_key(token: object) -> None:
    assert visitor_key(token) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.org", False),
    ],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_limits_must_allow_something() -> None:
    with pytest.raises(ValueError, match="teach_per_minute must be at least 1, got 0"):
        Limits(teach_per_minute=0)


def test_a_session_stays_one_visitor_and_a_new_session_is_another(
    tmp_path: Path, clock: Clock
) -> None:
    visitors = visitors_of(tmp_path, clock)
    alice = visitors.for_session("session-a")
    assert visitors.for_session("session-a") is alice
    bob = visitors.for_session("session-b")
    assert bob is not alice and bob.store.visitor != alice.store.visitor
    # No session at all (a bare HTTP call): a visitor for this call only.
    assert visitors.for_session(None).store.visitor not in (alice.store.visitor, "")


def test_a_reloaded_page_becomes_its_visitor_again(tmp_path: Path, clock: Clock) -> None:
    visitors = visitors_of(tmp_path, clock)
    view, token = visitors.restore("page-1", None)  # first visit: a new token for the browser
    view.teach()
    again, same = visitors.restore("page-2", token)  # a reload: a new session, the kept token
    assert same == token and len(again.store) == 1
    assert visitors.for_session("page-2").store.visitor == view.store.visitor
    # A forged or damaged token is a new visitor, never someone else.
    stranger, new = visitors.restore("page-3", token[:-1] + "?")
    assert new != token and len(stranger.store) == 0
    # A session that taught before its page finished loading stays that visitor.
    early = visitors.for_session("page-4")
    early.teach()
    assert visitors.restore("page-4", None)[0].store.visitor == early.store.visitor


def test_forgotten_views_are_rebuilt_from_the_store(tmp_path: Path, clock: Clock) -> None:
    visitors = visitors_of(tmp_path, clock)  # keeps 2 views
    first, token = visitors.restore("s1", None)
    first.teach()
    visitors.for_session("s2")
    visitors.for_session("s3")  # the first visitor's view is dropped here
    rebuilt = visitors.for_session("s1")
    assert rebuilt is not first and len(rebuilt.store) == 1
    assert rebuilt.store.visitor == visitor_key(token)


def test_teaching_too_fast_is_refused_then_allowed_again(tmp_path: Path, clock: Clock) -> None:
    visitors = visitors_of(tmp_path, clock, teach_per_minute=3)
    alice, bob = visitors.for_session("a"), visitors.for_session("b")
    for _ in range(3):
        alice.teach()
        clock.now += 10
    with pytest.raises(LimitError, match=r"3 teachings in a minute.*wait 30 s"):
        alice.teach()
    bob.teach()  # the limit is each visitor's own
    clock.now += 31  # the first teaching is now more than a minute ago
    alice.teach()
    assert len(alice.store) == 4


def test_a_visitor_may_keep_only_so_many_samples(tmp_path: Path, clock: Clock) -> None:
    visitors = visitors_of(tmp_path, clock, samples_per_visitor=2)
    alice = visitors.for_session("a")
    alice.teach()
    alice.teach()
    with pytest.raises(LimitError, match="You have 2 samples, the most one visitor may keep"):
        alice.teach()
    alice.store.delete(alice.store.samples()[0].id)
    alice.teach()  # room again
    visitors.for_session("b").teach()  # others are not affected


def test_all_visitors_together_may_keep_only_so_many(tmp_path: Path, clock: Clock) -> None:
    visitors = visitors_of(tmp_path, clock, samples_in_total=3)
    for session in ("a", "b", "c"):
        visitors.for_session(session).teach()
    with pytest.raises(LimitError, match="holds all the samples it can keep"):
        visitors.for_session("d").teach()
    messages = []
    for session in "abcd":
        try:
            visitors.for_session(session).teach()
        except LimitError as exc:
            messages.append(str(exc))
    assert len(messages) == 4 and visitors.store.count_all() == 3
    assert not any("/" in message or "sqlite" in message for message in messages)
