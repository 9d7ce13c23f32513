"""The sending process: answers come back, and when it cannot answer, no test waits and none passes for it."""

from __future__ import annotations

import pickle
from pathlib import Path

from selftests.fault_server import FaultServer
from toolcall_conformance.redact import scrub, scrub_data
from toolcall_conformance.wire.client import SENDER_STOPPED, Exchange
from toolcall_conformance.wire.dispatch import Dispatcher, DispatchState, _answer_message

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [TOOL], "tool_choice": "required"}


def test_identical_bodies_are_sent_once_and_the_state_comes_back():
    with FaultServer("none") as server:
        dispatcher = Dispatcher(server.base_url, "EMPTY", 10, 4)
        first, second = dispatcher.submit(BODY), dispatcher.submit(dict(BODY))
        assert first is second
        assert first.result(timeout=10).status == 200
        dispatcher.close()
    assert (dispatcher.sent, dispatcher.answered, dispatcher.queued) == (1, 1, 1)


def test_a_killed_sending_process_answers_every_request_as_stopped(tmp_path: Path):
    dispatcher = Dispatcher("http://127.0.0.1:9/v1", "EMPTY", 10, 4, log_path=tmp_path / "dispatch.log")
    dispatcher._process.kill()
    dispatcher._process.wait(timeout=10)
    exchange = dispatcher.submit(BODY).result(timeout=10)
    assert exchange.transport_error is not None
    assert exchange.transport_error.kind == SENDER_STOPPED
    assert "exited with code -9" in exchange.transport_error.message
    dispatcher.close()


def test_an_empty_log_is_removed_at_close(tmp_path: Path):
    log = tmp_path / "run" / "dispatch.log"
    Dispatcher("http://127.0.0.1:9/v1", "EMPTY", 10, 4, log_path=log).close()
    assert not log.exists()


def test_an_answer_nested_too_deeply_to_pickle_comes_back_without_its_decoded_form():
    deep: object = 1
    for _ in range(2000):
        deep = [deep]
    exchange = Exchange(url="u", request=BODY, stream=False, status=200, raw=b"[[[...]]]", json_body=deep)
    kind, key, answer, _ = pickle.loads(_answer_message("k", exchange, DispatchState()))
    assert (kind, key, answer.json_body, answer.raw) == ("answer", "k", None, b"[[[...]]]")
    assert answer.json_error == "ValueError: nested too deeply to decode"


def test_short_keys_are_not_scrubbed_and_data_stays_data():
    assert scrub("true is a test", ["true", "test", "EMPTY"]) == "true is a test"
    key = "sk-live-0123456789"
    assert scrub_data({"a": [f"Bearer {key}", 1, None], key: True}, [key]) == {
        "a": ["Bearer [REDACTED]", 1, None],
        "[REDACTED]": True,
    }


def test_connections_are_split_into_small_pools_and_never_more_than_the_concurrency_at_once():
    """httpcore's pool upkeep grows with the square of its size (wire/pools.py): 20 slots are 3 clients of <= 8."""
    import asyncio
    from collections import Counter

    from toolcall_conformance.wire.pools import POOL_SIZE, ClientPools

    async def take_all() -> tuple[Counter, bool, list[int]]:
        pools = ClientPools(20, 5.0)
        held, taken = [], Counter()
        for _ in range(20):
            context = pools.slot()
            taken[id(await context.__aenter__())] += 1
            held.append(context)
        twenty_first = asyncio.ensure_future(pools.slot().__aenter__())
        await asyncio.sleep(0.05)
        waited = not twenty_first.done()
        await held[0].__aexit__(None, None, None)
        await asyncio.wait_for(twenty_first, 1.0)
        limits = [client._transport._pool._max_connections for client in pools.clients]
        await pools.aclose()
        return taken, waited, limits

    taken, waited, limits = asyncio.run(take_all())
    assert sorted(taken.values()) == [6, 7, 7] and waited
    assert sorted(limits) == [6, 7, 7] and max(limits) <= POOL_SIZE


def test_requests_one_after_another_take_the_same_client_and_its_open_connection():
    """As in one pool: a server whose listener closes refuses the next request instead of answering on a
    connection an earlier request left open in another client (test_a_server_that_dies_... relies on it)."""
    import asyncio

    from toolcall_conformance.wire.pools import ClientPools

    async def one_after_another() -> set[int]:
        pools = ClientPools(64, 5.0)
        used = set()
        for _ in range(5):
            async with pools.slot() as client:
                used.add(id(client))
        await pools.aclose()
        return used

    assert len(asyncio.run(one_after_another())) == 1
