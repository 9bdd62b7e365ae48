"""Mutual TLS: client certificates verified against HS_TLS_CLIENT_CA, required or optional."""

from __future__ import annotations

import pytest

from conftest import tls_env
from support import Server, curl

# curl's exit codes when the server refuses the handshake or drops it right after (with TLS 1.3
# the client's handshake is done before the server's verdict arrives, so the refusal can show
# up as a failed send or receive)
REFUSED = {16, 35, 55, 56}  # HTTP/2 framing layer, SSL connect error, send error, receive error


def client(certs, name):
    return ["--cert", certs[name], "--key", certs[name + "_key"]] if name else []


@pytest.fixture(scope="module")
def required(certs, tmp_path_factory):
    srv = Server("hello", tls_env(certs, HS_TLS_CLIENT_CA=certs["ca"], HS_TLS_CLIENT_REQUIRED="1"),
                 tmp_path_factory.mktemp("mtls_required"))
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def optional(certs, tmp_path_factory):
    srv = Server("hello", tls_env(certs, HS_TLS_CLIENT_CA=certs["ca"], HS_TLS_CLIENT_REQUIRED="0"),
                 tmp_path_factory.mktemp("mtls_optional"))
    yield srv
    srv.close()


@pytest.mark.parametrize("proto", ["--http1.1", "--http2"])
def test_required_accepts_client_certificate(required, certs, proto):
    r = curl(f"https://127.0.0.1:{required.port}/whoami", proto, *client(certs, "client"),
             ca=certs["ca"])
    assert r.status == 200 and r.json["secure"] is True


@pytest.mark.parametrize("who", [None, "rogue", "expired"])
def test_required_refuses(required, certs, who):
    """No certificate, one from another CA, an expired one: no answer at all."""
    r = curl(f"https://127.0.0.1:{required.port}/", *client(certs, who), ca=certs["ca"],
             check=False)
    assert r.status == 0 and r.rc in REFUSED, (r.rc, r.status, r.stderr)
    assert required.alive()


def test_optional_without_certificate(optional, certs):
    r = curl(f"https://127.0.0.1:{optional.port}/", ca=certs["ca"])
    assert (r.status, r.body) == (200, b"Hello, World!")


def test_optional_with_certificate(optional, certs):
    r = curl(f"https://127.0.0.1:{optional.port}/", *client(certs, "client"), ca=certs["ca"])
    assert r.status == 200


@pytest.mark.parametrize("who", ["rogue", "expired"])
def test_optional_refuses_invalid_certificate(optional, certs, who):
    """Optional means "may send none", not "may send anything": a certificate that does not
    verify still fails the handshake."""
    r = curl(f"https://127.0.0.1:{optional.port}/", *client(certs, who), ca=certs["ca"],
             check=False)
    assert r.status == 0 and r.rc in REFUSED, (r.rc, r.status, r.stderr)
