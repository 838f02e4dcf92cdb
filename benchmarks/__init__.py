"""What rx_auth's reactive pipeline costs, against aiohttp and an `asyncio.Lock`.

Run from the project root with `python -m benchmarks` (`--help` for the
options). Each benchmark runs rx_auth and a baseline in turn against a
server in another process on 127.0.0.1, and reports medians and the
median of the pairwise ratios; results go to `out/benchmarks/`.

1. throughput with a valid token, against raw aiohttp;
2. a burst of N requests on an expired token, against a hand-written
   `asyncio.Lock` single flight (`benchmarks.baseline`);
3. the same burst when the refresh is refused;
4. memory per request queued behind a slow refresh;
5. the pipeline's cost per request with no network, and a profile.

See BENCHMARKS.md for the results and how to read them.
"""
