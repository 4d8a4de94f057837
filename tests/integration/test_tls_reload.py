"""SIGHUP reloads the listener's TLS certificate: parse first, swap after.
New connections get the new certificate, open sessions keep going, and a
certificate that does not load (or a key that does not match) keeps the
current one, with the reason in the log."""

import hashlib
import shutil
import socket
import ssl
import subprocess

import pytest

import tenbus_harness as th


def make_cert(d, name, cn):
    crt, key = str(d / (name + ".crt")), str(d / (name + ".key"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=" + cn, "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    if not shutil.which("openssl"):
        pytest.skip("the openssl command-line tool is not installed")
    d = tmp_path_factory.mktemp("tls-reload")
    return make_cert(d, "a", "tenbus-a"), make_cert(d, "b", "tenbus-b")


def fingerprint(port):
    """SHA-256 of the certificate a new TLS connection is served."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s) as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(crt):
    with open(crt) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def install(src, dst):
    shutil.copyfile(src[0], dst[0])
    shutil.copyfile(src[1], dst[1])


def test_sighup_reloads_certificate(make_daemon, certs, tmp_path):
    a, b = certs
    live = (str(tmp_path / "server.crt"), str(tmp_path / "server.key"))
    install(a, live)
    d = make_daemon(tls=live)
    # The test's clients trust both certificates.
    ctx = ssl.create_default_context(cafile=a[0])
    ctx.load_verify_locations(cafile=b[0])
    d.client_ssl = ctx
    tok = d.user()
    d.start()
    assert fingerprint(d.port) == file_fingerprint(a[0])
    ws = d.session(tok)

    # A new pair: new connections get it; the open session goes on.
    install(b, live)
    d.signal(th.signal.SIGHUP)
    th.wait_for(lambda: fingerprint(d.port) == file_fingerprint(b[0]),
                message="new certificate served after SIGHUP")
    assert "TLS certificate reloaded" in d.log_text()
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)

    # A certificate that does not parse: the current one stays, and why.
    with open(live[0], "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    d.signal(th.signal.SIGHUP)
    th.wait_for(lambda: "TLS certificate not reloaded" in d.log_text(),
                message="refusal logged")
    assert "websocket.certificate: cannot load" in d.log_text()
    assert fingerprint(d.port) == file_fingerprint(b[0])

    # A key that does not match the certificate: same.
    shutil.copyfile(a[0], live[0])      # certificate a, key b
    d.signal(th.signal.SIGHUP)
    th.wait_for(lambda: "does not match the certificate" in d.log_text(),
                message="mismatch logged")
    assert fingerprint(d.port) == file_fingerprint(b[0])

    # A sound pair again: it is taken.
    install(a, live)
    d.signal(th.signal.SIGHUP)
    th.wait_for(lambda: fingerprint(d.port) == file_fingerprint(a[0]),
                message="certificate a served again")
    ws2 = d.session(tok)
    ev = th.ev_user(tok.tenant, tok.user)
    d.publish(ev)
    assert ws.recv_marker() == th.marker(ev)
    assert ws2.recv_marker() == th.marker(ev)
