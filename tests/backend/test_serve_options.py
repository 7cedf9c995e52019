"""`msa backend serve` as a real process: HTTPS with a certificate, the access log,
and a reverse proxy's X-Forwarded-* headers trusted only when configured."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from msa.backend.auth import SESSION_COOKIE
from msa.backend.keys import Kek
from tests.backend.conftest import Server, login_path, seed_database, start_server
from tests.backend.util import OPERATOR, EventStream
from tests.test_cli import msa

ACCESS_LINE = re.compile(r"access (\S+) ([A-Z]+) (\S+) (\d{3}) (\d+\.\d)ms$")
PROXY = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key: (certificate, key) PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "msa test backend")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
def serving(kek: Kek, kek_file: Path) -> Callable[..., AbstractContextManager[Server]]:
    """A seeded backend process with `options`, stopped whatever happens."""

    @contextmanager
    def started(database_url: str, tmp_path: Path, *options: str) -> Iterator[Server]:
        asyncio.run(seed_database(database_url, kek))
        log = tmp_path / "backend.log"
        server = start_server(database_url, log, kek_file, options=options)
        try:
            yield server
        finally:
            server.stop()

    return started


def access_lines(log: Path) -> list[tuple[str, ...]]:
    return [
        match.groups()
        for line in log.read_text().splitlines()
        if (match := ACCESS_LINE.search(line))
    ]


def test_with_a_certificate_it_serves_https_and_the_cookie_is_secure(
    database_url, tmp_path, serving
):
    cert, key = self_signed_certificate(tmp_path)
    with serving(database_url, tmp_path, "--tls-cert", str(cert), "--tls-key", str(key)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(cert))

        async def log_in() -> tuple[httpx.Response, int]:
            async with httpx.AsyncClient(base_url=server.url, verify=trusting) as client:
                login = await client.get(await login_path(database_url))
                page = await client.get("/console")  # the Secure cookie goes back over TLS
            return login, page.status_code

        login, page_status = asyncio.run(log_in())
    assert login.status_code == 303
    attributes = [part.strip().lower() for part in login.headers["set-cookie"].split(";")]
    assert attributes[0].startswith(f"{SESSION_COOKIE}=")
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(attributes)
    assert page_status == 200
    assert access_lines(server.log) == []  # no --access-log, no access lines


def test_the_access_log_has_one_line_per_request_and_no_secrets(tmp_path, serving):
    database_url = f"sqlite:///{tmp_path}/msa.db"
    with serving(database_url, tmp_path, "--access-log") as server:

        async def requests() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                login = "/console/login?code=SECRET-CODE-123"
                assert (await client.get(login, headers=PROXY)).status_code == 401
                assert (await client.get("/api/v1/openapi.json?x=1")).status_code == 200
                assert (await client.get("/no/such%0Apath")).status_code == 404
                assert (await client.post("/api/v1/frames", json={})).status_code == 401
                stream = "/api/v1/console/stream"
                async with client.stream("GET", stream, headers=OPERATOR) as response:
                    assert await EventStream(response).until_ready() == []

        asyncio.run(requests())
    lines = access_lines(server.log)
    assert sorted(line[1:4] for line in lines) == sorted(
        [
            ("GET", "/console/login", "401"),  # the code is in the query string: left out
            ("GET", "/api/v1/openapi.json", "200"),
            ("GET", "/no/such%0Apath", "404"),  # an encoded line break stays encoded
            ("POST", "/api/v1/frames", "401"),
            ("GET", "/api/v1/console/stream", "200"),  # logged when it ended
        ]
    )
    # Without --forwarded-allow-ips, a client's X-Forwarded-For is not believed.
    assert {line[0] for line in lines} == {"127.0.0.1"}
    text = server.log.read_text()
    assert "SECRET-CODE-123" not in text and "x=1" not in text
    assert "HTTP/1.1" not in text  # uvicorn's own access log (with query strings) stays off
    refused = [line for line in text.splitlines() if "log-in refused" in line]
    assert len(refused) == 1
    assert refused[0].endswith("log-in refused: source=127.0.0.1 reason=unknown_code")


def test_a_trusted_proxys_forwarded_headers_give_the_source_and_https(tmp_path, serving):
    database_url = f"sqlite:///{tmp_path}/msa.db"
    options = ("--access-log", "--forwarded-allow-ips", "127.0.0.1")
    with serving(database_url, tmp_path, *options) as server:

        async def log_in() -> httpx.Response:
            async with httpx.AsyncClient(base_url=server.url) as client:
                return await client.get(await login_path(database_url), headers=PROXY)

        login = asyncio.run(log_in())
    assert login.status_code == 303
    assert "secure" in [part.strip().lower() for part in login.headers["set-cookie"].split(";")]
    assert [line[:4] for line in access_lines(server.log)] == [
        ("203.0.113.9", "GET", "/console/login", "303")
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--tls-cert", "{cert}"), "HTTPS needs both --tls-cert FILE and --tls-key FILE"),
        (("--tls-cert", "{cert}", "--tls-key", "{missing}"), "no such file"),
        (("--tls-cert", "{key}", "--tls-key", "{key}"), "cannot use"),
        (("--public-url", "ftp://cic.example"), "is not an origin"),
    ],
)
def test_bad_serve_options_are_one_clear_line(tmp_path, kek_file, options, message):
    cert, key = self_signed_certificate(tmp_path)
    files = {"cert": cert, "key": key, "missing": tmp_path / "missing.pem"}
    args = [option.format(**files) for option in options]
    db = f"sqlite:///{tmp_path}/msa.db"
    result = msa("backend", "serve", "--db", db, "--kek-file", str(kek_file), "--port", "0", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
