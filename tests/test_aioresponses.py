"""`AiohttpBackend` over a session mocked with aioresponses, as users' tests do.

aioresponses 0.7.9 cannot build a response on aiohttp 3.14 or later, where
`ClientResponse` gained a required `stream_writer` argument; so these tests
run only under an older aiohttp (`python3 tasks.py test` makes a virtual
environment for them).
"""

import aiohttp
import pytest

from rx_auth import AiohttpBackend, HttpClient, HttpErrorResponse

AIOHTTP_VERSION = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])

if AIOHTTP_VERSION >= (3, 14):
    pytest.skip(
        f"aioresponses 0.7.9 cannot mock aiohttp {aiohttp.__version__} (needs < 3.14)",
        allow_module_level=True,
    )
mocking = pytest.importorskip(
    "aioresponses", reason="aioresponses is not installed in this environment"
)

pytestmark = pytest.mark.aioresponses

# Mocked, so never dialled; were the mock to miss, the call stays on loopback.
URL = "http://127.0.0.1:9/users/1"


async def test_a_mocked_json_answer_arrives_as_the_body() -> None:
    with mocking.aioresponses() as mocked:
        mocked.get(URL, payload={"name": "Ada"})

        async with aiohttp.ClientSession() as session:
            body = await HttpClient(AiohttpBackend(session)).get(URL)

    assert body == {"name": "Ada"}


async def test_a_mocked_500_fails_with_the_status_and_error_body() -> None:
    with mocking.aioresponses() as mocked:
        mocked.get(URL, status=500, payload={"error": "boom"})

        async with aiohttp.ClientSession() as session:
            client = HttpClient(AiohttpBackend(session))
            with pytest.raises(HttpErrorResponse) as caught:
                await client.get(URL)

    failure = caught.value
    assert failure.status == 500
    assert failure.error == {"error": "boom"}
    assert failure.url == URL
