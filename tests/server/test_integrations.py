"""docs/integrations.md, tested end to end: a client that only talks to Cloudflare's own hosts
(nopCommerce's ``Misc.CloudflareImages`` plugin hard-codes ``https://api.cloudflare.com``) reaches
``enlarger serve`` through its own TLS listener — the store resolves the API host and the delivery
host to Enlarger and trusts a private CA — with the plugin's request shapes (.NET multipart: a
quoted boundary, unquoted ``name=file``, an RFC 5987 ``filename*``), and its delivery URL
template ``https://imagedelivery.net/<account_hash>/<image_id>/<variant_name>`` serves."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from enlarger.catalog.store import Catalog
from enlarger.settings import Settings, SettingsError
from tests.imaging import decode, gradient, save
from tests.live import free_port, stop, wait_for
from tests.tls import make_authority

API_HOST, DELIVERY_HOST = "api.cloudflare.com", "imagedelivery.net"


@dataclass(frozen=True)
class Store:
    """What the store's operator set up: Enlarger's port, the CA the store trusts, an account and token."""

    port: int
    trust: ssl.SSLContext
    account_id: str
    account_hash: str
    token: str

    def request(self, host: str, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, bytes]:
        """One HTTPS request to ``host`` as the store makes it, the name resolved to Enlarger."""
        connection = _Resolved(host, self.port, self.trust)
        try:
            connection.request(method, path, body=body or None, headers={"Host": host, **headers})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


class _Resolved(http.client.HTTPSConnection):
    """An HTTPS connection to ``host`` whose name resolves to 127.0.0.1 (the store's hosts-file
    override); the certificate is checked against ``host`` with the store's trusted CA."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(host, port, context=context, timeout=30)
        self._context = context

    def connect(self) -> None:
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    authority = make_authority(tmp_path / "ca", "Store private CA", hosts=(API_HOST, DELIVERY_HOST))
    data = tmp_path / "data"
    catalog = Catalog(Settings(data_dir=data).catalog_url)
    account = catalog.create_account("store")
    _, token = catalog.create_token(account.id)
    catalog.close()
    port = free_port()
    env = {**os.environ, "ENLARGER_PUBLIC_URL": f"https://{DELIVERY_HOST}"}
    command = [sys.executable, "-m", "enlarger.cli", "serve", "--port", str(port), "--data-dir", str(data)]
    command += ["--tls-cert", str(authority.cert_file), "--tls-key", str(authority.key_file)]
    log = (tmp_path / "server.log").open("ab")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, env=env)
    trust = ssl.create_default_context(cafile=str(authority.ca_file))
    opened = Store(port, trust, account.id, account.hash, token)

    def ready() -> bool:
        try:
            return opened.request(API_HOST, "GET", "/healthz")[0] == 200
        except OSError:
            return process.poll() is not None

    try:
        wait_for(ready, timeout=60)
        assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
        yield opened
    finally:
        stop(process)


def _dotnet_multipart(fields: dict[str, str], file: tuple[str, bytes]) -> tuple[bytes, str]:
    """The body .NET's ``MultipartFormDataContent`` writes, and its Content-Type."""
    boundary = "3f2e6a2c-9b1d-4c1e-8a8f-5b9c0d1e2f30"
    body = b""
    for name, value in fields.items():
        body += f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n".encode()
        body += f"Content-Disposition: form-data; name={name}\r\n\r\n{value}\r\n".encode()
    filename, data = file
    encoded = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else f"%{ord(c):02X}" for c in filename)
    body += f"--{boundary}\r\nContent-Type: image/jpeg\r\n".encode()
    body += (
        f"Content-Disposition: form-data; name=file; filename={filename}; filename*=utf-8''{encoded}\r\n\r\n".encode()
    )
    body += data + f"\r\n--{boundary}--\r\n".encode()
    return body, f'multipart/form-data; boundary="{boundary}"'


def test_the_plugin_uploads_delivers_and_deletes_through_enlargers_tls(store: Store) -> None:
    thumb_id = "thumbs/0000042_blue-shoe_415.jpeg"
    body, content_type = _dotnet_multipart(
        {"id": thumb_id}, ("0000042_blue-shoe_415.jpeg", save(gradient(415, 311), "jpeg"))
    )
    auth = {"Authorization": f"Bearer {store.token}"}
    api = f"/client/v4/accounts/{store.account_id}/images/v1"
    status, answer = store.request(API_HOST, "POST", api, body, **{"Content-Type": content_type}, **auth)
    assert status == 200, answer
    record: dict[str, Any] = json.loads(answer)["result"]
    assert record["id"] == thumb_id and record["filename"] == "0000042_blue-shoe_415.jpeg"
    # the plugin's Delivery URL template, filled in: https://imagedelivery.net/<hash>/<id>/<variant>
    delivery = f"https://{DELIVERY_HOST}/{store.account_hash}/{thumb_id}/public"
    assert record["variants"] == [delivery]
    status, image = store.request(DELIVERY_HOST, "GET", delivery.removeprefix(f"https://{DELIVERY_HOST}"))
    assert status == 200
    assert (decode(image).width, decode(image).height) == (415, 311)  # public: scale-down 1366×768
    status, answer = store.request(API_HOST, "DELETE", f"{api}/{thumb_id}", b"", **auth)
    assert status == 200 and json.loads(answer)["success"] is True
    status, _ = store.request(DELIVERY_HOST, "GET", f"/{store.account_hash}/{thumb_id}/public")
    assert status == 404


def test_a_client_that_does_not_trust_the_ca_is_refused(store: Store) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        _Resolved(API_HOST, store.port, ssl.create_default_context()).connect()


def test_tls_settings_go_together() -> None:
    with pytest.raises(SettingsError, match="tls_cert and tls_key"):
        Settings(tls_cert="/x.pem")
