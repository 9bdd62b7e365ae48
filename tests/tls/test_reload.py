"""Certificate reload without restart (SIGHUP -> hs_tls_reload in the examples): new handshakes
get the new certificate while connections already open keep working; a failed reload keeps the
old certificate and says which file was wrong."""

from __future__ import annotations

import shutil

import pytest

from support import http11_get, peer_cn, tls_connect, tls_context

OLD, NEW = "httpsock test server", "httpsock test server renewed"


@pytest.fixture
def live(tmp_path, certs, serve):
    """hello serving copies of server.pem/key that the test may overwrite or delete."""
    cert, key = tmp_path / "live.pem", tmp_path / "live.key"
    shutil.copy(certs["server"], cert)
    shutil.copy(certs["server_key"], key)
    srv = serve("hello", {"HS_TLS_CERT": str(cert), "HS_TLS_KEY": str(key)})
    return srv, cert, key


def new_cn(srv, certs) -> str:
    with tls_connect(srv.port, tls_context(certs["ca"])) as s:
        status, _ = http11_get(s, "/")
        assert status == 200
        return peer_cn(s)


def test_reload_new_handshake_sees_new_certificate(live, certs):
    srv, cert, key = live
    ctx = tls_context(certs["ca"], alpn=["http/1.1"])
    with tls_connect(srv.port, ctx) as old:
        assert http11_get(old, "/hello/before") == (200, b'{"hello":"before"}')
        assert peer_cn(old) == OLD

        shutil.copy(certs["server2"], cert)
        shutil.copy(certs["server2_key"], key)
        assert srv.reload() == "reloaded"

        assert new_cn(srv, certs) == NEW
        # the old keep-alive connection goes on, on its own session
        assert http11_get(old, "/hello/after") == (200, b'{"hello":"after"}')
    assert new_cn(srv, certs) == NEW


def test_reload_unchanged_files(live, certs):
    srv, _, _ = live
    assert srv.reload() == "reloaded"
    assert new_cn(srv, certs) == OLD


@pytest.mark.parametrize("damage,names", [
    ("delete_key", "live.key"),
    ("delete_cert", "live.pem"),
    ("garbage_cert", "live.pem"),
    ("mismatched_key", ("live.pem", "live.key")),
])
def test_failed_reload_keeps_old_certificate(live, certs, damage, names):
    srv, cert, key = live
    if damage == "delete_key":
        key.unlink()
    elif damage == "delete_cert":
        cert.unlink()
    elif damage == "garbage_cert":
        shutil.copy(certs["garbage"], cert)
    elif damage == "mismatched_key":  # the renewed certificate with the old key
        shutil.copy(certs["server2"], cert)
    line = srv.reload()
    assert line.startswith("reload failed: "), line
    assert any(n in line for n in ([names] if isinstance(names, str) else names)), line
    assert srv.alive()
    assert new_cn(srv, certs) == OLD
    # repaired files are picked up by the next reload
    shutil.copy(certs["server2"], cert)
    shutil.copy(certs["server2_key"], key)
    assert srv.reload() == "reloaded"
    assert new_cn(srv, certs) == NEW


def test_reload_sni_certificate(tmp_path, certs, serve):
    """A certificate selected by SNI is re-read too: alt.test gets other.test's files after."""
    alt_cert, alt_key = tmp_path / "alt.pem", tmp_path / "alt.key"
    shutil.copy(certs["alt"], alt_cert)
    shutil.copy(certs["alt_key"], alt_key)
    srv = serve("hello", {"HS_TLS_CERT": certs["server"], "HS_TLS_KEY": certs["server_key"],
                          "HS_TLS_SNI": f"alt.test={alt_cert}:{alt_key}"})
    ctx = tls_context(certs["ca"])
    ctx.check_hostname = False  # the replacement does not name alt.test: only the CN matters
    with tls_connect(srv.port, ctx, "alt.test") as s:
        assert peer_cn(s) == "httpsock test alt.test"
    shutil.copy(certs["other"], alt_cert)
    shutil.copy(certs["other_key"], alt_key)
    assert srv.reload() == "reloaded"
    with tls_connect(srv.port, ctx, "alt.test") as s:
        assert peer_cn(s) == "httpsock test other.test"
    with tls_connect(srv.port, ctx, "localhost") as s:
        assert peer_cn(s) == OLD


def test_many_reloads_no_fd_growth(live, certs):
    """Twenty reloads leave the server's descriptors where they were."""
    srv, _, _ = live
    assert new_cn(srv, certs) == OLD  # the event loop is up: its descriptors are in the count
    before = srv.fds()
    for _ in range(20):
        assert srv.reload() == "reloaded"
    # No growth: at most `before` (which may still count new_cn's connection, closing).
    assert srv.wait_fds(before) <= before
    assert new_cn(srv, certs) == OLD
