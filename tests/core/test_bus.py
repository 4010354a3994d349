import threading
import time

import pytest

from onestack.core.bus import InProcessBus, RabbitBus, make_bus
from onestack.core.testing import rabbit


def _poll(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_publish_in_process_bus_reaches_subscribers_of_topic_only():
    bus = InProcessBus()
    seen = []
    bus.subscribe("a", lambda t, k: seen.append((t, k)))
    bus.publish("a", "1")
    bus.publish("b", "2")
    assert seen == [("a", "1")]


def test_publish_in_process_bus_survives_failing_subscriber():
    bus = InProcessBus()
    seen = []
    bus.subscribe("a", lambda t, k: 1 / 0)
    bus.subscribe("a", lambda t, k: seen.append(k))
    bus.publish("a", "x")
    assert seen == ["x"]


def test_make_bus_without_url_is_in_process():
    assert isinstance(make_bus(""), InProcessBus)


@pytest.fixture
def vhost_url():
    if not rabbit.available():
        pytest.skip("rabbitmqctl not installed")
    with rabbit.throwaway_vhost() as url:
        yield url


def test_publish_rabbit_bus_reaches_other_process_once_and_self_synchronously(vhost_url):
    a, b = RabbitBus(vhost_url), RabbitBus(vhost_url)
    try:
        assert a.wait_ready() and b.wait_ready()
        seen_a, seen_b = [], []
        lock = threading.Lock()
        a.subscribe("identity.changed", lambda t, k: seen_a.append(k))
        b.subscribe("identity.changed", lambda t, k: (lock.acquire(), seen_b.append(k), lock.release()))
        a.publish("identity.changed", "user-1")
        assert seen_a == ["user-1"]  # local delivery is synchronous
        assert _poll(lambda: seen_b == ["user-1"])
        b.publish("other.topic", "ignored")
        a.publish("identity.changed", "user-2")
        assert _poll(lambda: seen_b == ["user-1", "user-2"])
        assert seen_a == ["user-1", "user-2"]  # never its own echo a second time
    finally:
        a.close()
        b.close()
