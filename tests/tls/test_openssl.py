"""TLS versions, ALPN, SNI and certificate files, seen by `openssl s_client`; certificate
settings that must stop the server from starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import tls_env
from support import Server, curl, s_client, start_failing

CN = {
    "server": "httpsock test server",
    "alt": "httpsock test alt.test",
    "other": "httpsock test other.test",
}


@pytest.fixture(scope="module")
def sni_server(certs, tmp_path_factory):
    """hello with the default certificate and two more chosen by SNI (alt.test with an RSA
    PKCS#1 key, other.test and *.wild.test with an EC SEC1 key)."""
    sni = f"alt.test={certs['alt']}:{certs['alt_key']};other.test={certs['other']}:" \
          f"{certs['other_key']};*.wild.test={certs['other']}:{certs['other_key']}"
    srv = Server("hello", tls_env(certs, HS_TLS_SNI=sni), tmp_path_factory.mktemp("sni"))
    yield srv
    srv.close()


@pytest.mark.parametrize("flag,version", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_versions(hello_tls, certs, flag, version):
    hs = s_client(hello_tls.port, flag, "-servername", "localhost", ca=certs["ca"])
    assert hs.ok, hs.output
    assert hs.protocol == version, hs.output
    assert hs.verified, hs.output
    assert hs.subject_cn == CN["server"]


def test_tls12_request(hello_tls, certs):
    """A whole request over TLS 1.2 (curl --tls-max 1.2), HTTP/2 on top."""
    r = curl(f"https://127.0.0.1:{hello_tls.port}/whoami", "--tlsv1.2", "--tls-max", "1.2",
             "--http2", ca=certs["ca"])
    assert (r.status, r.http_version, r.json["version"]) == (200, "2", "HTTP/2.0")


def test_tls11_refused(hello_tls, certs):
    """A TLS 1.1-only client gets no session (SECLEVEL=0 lets OpenSSL 3 send its hello)."""
    hs = s_client(hello_tls.port, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0", ca=certs["ca"])
    assert not hs.ok, hs.output
    assert "CONNECTED" in hs.output, hs.output  # it did reach the server
    assert hello_tls.alive()


@pytest.mark.parametrize("offer,expected", [
    ("h2", "h2"),
    ("http/1.1", "http/1.1"),
    ("h2,http/1.1", "h2"),
    ("http/1.1,h2", "h2"),  # the server's preference order decides
])
def test_alpn(hello_tls, certs, offer, expected):
    hs = s_client(hello_tls.port, "-alpn", offer, "-servername", "localhost", ca=certs["ca"])
    assert hs.ok, hs.output
    assert hs.alpn == expected, hs.output


def test_no_alpn_is_http11(hello_tls, certs):
    """A client that offers no ALPN speaks HTTP/1.1 over TLS."""
    hs = s_client(hello_tls.port, "-servername", "localhost", "-ign_eof", ca=certs["ca"],
                  send=b"GET /whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert hs.ok and hs.alpn is None, hs.output
    assert '{"version":"HTTP/1.1","secure":true}' in hs.output, hs.output


def test_alpn_with_http2_off(serve, certs):
    srv = serve("hello", tls_env(certs, HS_HTTP2="0"))
    hs = s_client(srv.port, "-alpn", "h2,http/1.1", ca=certs["ca"])
    assert hs.ok and hs.alpn == "http/1.1", hs.output


@pytest.mark.parametrize("sni,cert", [
    ("alt.test", "alt"),
    ("other.test", "other"),
    ("x.wild.test", "other"),
    ("localhost", "server"),
    ("unknown.test", "server"),  # a name with no certificate: the default one
    ("a.b.wild.test", "server"),  # the wildcard covers one label only
    (None, "server"),  # no SNI at all: the default one
])
def test_sni(sni_server, certs, sni, cert):
    args = ["-servername", sni] if sni else ["-noservername"]
    hs = s_client(sni_server.port, *args, ca=certs["ca"])
    assert hs.ok, hs.output
    assert hs.subject_cn == CN[cert], hs.output


def test_sni_with_curl(sni_server, certs):
    """curl checks the name against the certificate it gets: alt.test must get alt's."""
    r = curl(f"https://alt.test:{sni_server.port}/whoami", "--resolve",
             f"alt.test:{sni_server.port}:127.0.0.1", "--http2", ca=certs["ca"])
    assert (r.status, r.http_version) == (200, "2")


def test_chain_is_sent(serve, certs):
    """HS_TLS_CERT holding leaf + CA: both certificates go out."""
    srv = serve("hello", {"HS_TLS_CERT": certs["chain"], "HS_TLS_KEY": certs["server_key"]})
    hs = s_client(srv.port, "-servername", "localhost", ca=certs["ca"])
    assert hs.ok and hs.chain_length == 2, hs.output
    one = s_client(serve("hello", tls_env(certs)).port, "-servername", "localhost",
                   ca=certs["ca"])
    assert one.chain_length == 1, one.output


def test_key_in_certificate_file(serve, certs):
    srv = serve("hello", {"HS_TLS_CERT": certs["combined"]})
    r = curl(f"https://127.0.0.1:{srv.port}/whoami", ca=certs["ca"])
    assert r.json == {"version": "HTTP/2.0", "secure": True}


@pytest.mark.parametrize("cert,key,names", [
    ("server", "alt_key", ["server.pem", "alt.key"]),  # key does not match the certificate
    ("garbage", "server_key", ["garbage.pem"]),  # not PEM
    ("server", "garbage", ["garbage.pem"]),  # key file without a key
    ("missing", "server_key", ["missing.pem"]),  # no such file
    ("server", None, ["server.pem"]),  # no key anywhere
])
def test_bad_certificate_settings_stop_the_server(certs, cert, key, names):
    """The example exits non-zero before listening, with the library's reason naming the file."""
    cert_path = certs.get(cert, str(Path(certs["server"]).parent / "missing.pem"))
    env = {"HS_TLS_CERT": cert_path}
    if key:
        env["HS_TLS_KEY"] = certs[key]
    proc = start_failing("hello", env)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode != 0, (proc.stdout, err)
    assert b"listening" not in proc.stdout
    assert any(n in err for n in names), err
