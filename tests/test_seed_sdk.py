"""The seed scenario as vLLM's example client runs it: through openai.OpenAI (and openai.AsyncOpenAI), verbatim.

The example lists the server's models, takes the first, and sends the weather conversation with
tool_choice="required" once streaming (reading chunk.choices[0].delta.tool_calls) and once blocking (reading
message.tool_calls), with no other parameters. The SDK's own requests are recorded byte for byte and judged by
every check, the sdk.* checks included; whatever the example itself raised is the test's failure too.
"""

from typing import Any

import httpx
import pytest

from toolcall_conformance.inputs.cases import required_cases
from toolcall_conformance.wire.recording import IDENTITY, AsyncRecordingTransport, RecordingTransport

SEED = {case.mode: case for case in required_cases() if case.toolset.is_seed}
MODE_PARAMS = [pytest.param(mode, marks=[getattr(pytest.mark, mode), pytest.mark.required]) for mode in SEED]


def _what_the_example_reads(completion: Any, stream: bool) -> list[Any]:
    if stream:
        return [
            chunk.choices[0].delta.tool_calls
            for chunk in completion
            if chunk.choices and chunk.choices[0].delta.tool_calls
        ]
    return list(completion.choices[0].message.tool_calls or [])


def _conclude(mode: str, transport: Any, raised: BaseException | None, judge: Any) -> None:
    if not transport.exchanges:
        pytest.fail(f"the example client raised before any chat completion was sent: {type(raised).__name__}: {raised}")
    judge(SEED[mode], transport.exchanges[-1])
    if raised is not None:
        pytest.fail(f"every check passed, yet the example client raised {type(raised).__name__}: {raised}")


@pytest.mark.seed
@pytest.mark.sdk_client
@pytest.mark.parametrize("mode", MODE_PARAMS)
def test_seed_through_the_openai_client(mode, request_settings, judge):
    import openai  # here, not at collection: the import then overlaps the suite's first requests

    transport = RecordingTransport(httpx.HTTPTransport(verify=request_settings.verify))
    http = httpx.Client(transport=transport, headers=IDENTITY, timeout=request_settings.request_timeout)
    client = openai.OpenAI(api_key=request_settings.api_key, base_url=request_settings.endpoint, http_client=http)
    raised = None
    try:
        model = client.models.list().data[0].id
        completion = client.chat.completions.create(
            messages=SEED[mode].toolset.conversation(),
            model=model,
            tools=list(SEED[mode].toolset.tools),
            tool_choice="required",
            stream=mode == "stream",
        )
        _what_the_example_reads(completion, mode == "stream")
    except Exception as error:  # what the SDK raises on a bad answer is not only openai.OpenAIError
        raised = error
    finally:
        client.close()
    _conclude(mode, transport, raised, judge)


@pytest.mark.seed
@pytest.mark.sdk_client
@pytest.mark.asyncio
@pytest.mark.parametrize("mode", MODE_PARAMS)
async def test_seed_through_the_async_openai_client(mode, request_settings, judge):
    import openai

    transport = AsyncRecordingTransport(httpx.AsyncHTTPTransport(verify=request_settings.verify))
    http = httpx.AsyncClient(transport=transport, headers=IDENTITY, timeout=request_settings.request_timeout)
    client = openai.AsyncOpenAI(api_key=request_settings.api_key, base_url=request_settings.endpoint, http_client=http)
    raised = None
    try:
        model = (await client.models.list()).data[0].id
        completion = await client.chat.completions.create(
            messages=SEED[mode].toolset.conversation(),
            model=model,
            tools=list(SEED[mode].toolset.tools),
            tool_choice="required",
            stream=mode == "stream",
        )
        if mode == "stream":
            [chunk.choices[0].delta.tool_calls async for chunk in completion if chunk.choices]
        else:
            _what_the_example_reads(completion, False)
    except Exception as error:
        raised = error
    finally:
        await client.close()
    _conclude(mode, transport, raised, judge)
