"""A kernel's refresh is accepted only from loopback as the connection's socket sees it.

Behind a proxy (JupyterHub's, an nginx), ``ServerApp.trust_xheaders`` makes tornado take a
request's address from ``X-Real-Ip`` / ``X-Forwarded-For``, headers any client can send.
A server listening beyond loopback, with xheaders trusted, gets a refresh carrying a
kernel's capability from another machine's address with ``X-Real-Ip: 127.0.0.1``: it is
refused, while the same request from the kernel's side (loopback) is answered.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.httpserver
import tornado.testing
from kernel_client import open_session
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets.config import Config


def _outward_address() -> str | None:
    """This machine's address on its way out (not loopback), if it has one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent for a datagram socket
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


OUTWARD = _outward_address()
pytestmark = pytest.mark.skipif(OUTWARD is None, reason="no address beyond loopback")


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    """Reached beyond loopback, as a server behind a proxy is."""
    jp_server_config.ServerApp.allow_remote_access = True
    return jp_server_config


@pytest.fixture
def http_server_port() -> tuple[socket.socket, int]:
    """The test server listens on every interface, as one behind a proxy may."""
    return tornado.testing.bind_unused_port(address="0.0.0.0")  # noqa: S104


@pytest.fixture
def http_server(
    jp_asyncio_loop: Any, http_server_port: tuple[socket.socket, int], jp_web_app: Any
) -> Iterator[Any]:
    """The test server, trusting X-Real-Ip and X-Forwarded-For (``trust_xheaders``)."""

    async def start() -> Any:
        server = tornado.httpserver.HTTPServer(jp_web_app, xheaders=True)
        server.add_socket(http_server_port[0])
        return server

    server = jp_asyncio_loop.run_until_complete(start())
    yield server
    server.stop()
    jp_asyncio_loop.run_until_complete(asyncio.wait_for(server.close_all_connections(), 10))
    http_server_port[0].close()


async def _refresh(host: str, port: int, base_url: str, record: Any) -> tuple[int, str]:
    url = f"http://{host}:{port}{base_url}qsecure/kernel/refresh"
    headers = {
        "Authorization": f"qsecure-capability {record.capability}",
        "X-QSecure-Kernel-Id": record.kernel_id,
        "X-Real-Ip": "127.0.0.1",
        "X-Forwarded-For": "127.0.0.1",
    }
    try:
        response = await AsyncHTTPClient().fetch(
            url, method="POST", headers=headers, body=json.dumps({"names": []})
        )
    except HTTPClientError as error:
        body = error.response.body.decode() if error.response is not None else ""
        return error.code, body
    return response.code, response.body.decode()


async def test_a_refresh_from_beyond_loopback_is_refused_whatever_its_headers_say(
    jp_fetch: Any, qsecure_app: Any, jp_http_port: int, jp_base_url: str, keyring_env: Any
) -> None:
    session = await open_session(jp_fetch, "a.ipynb")
    try:
        [record] = qsecure_app.registry.kernels()
        assert (await _refresh("127.0.0.1", jp_http_port, jp_base_url, record))[0] == 200
        status, body = await _refresh(str(OUTWARD), jp_http_port, jp_base_url, record)
        assert status == 403 and json.loads(body)["reason"] == "qsecure-bad-capability", body
    finally:
        await jp_fetch("api", "sessions", session["id"], method="DELETE")
