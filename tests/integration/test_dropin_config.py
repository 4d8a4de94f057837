"""Drop-in for wazo-websocketd: its configuration files as they are.

tenbusd gets a main file plus a conf.d override holding only
wazo-websocketd's keys (no `tenbus:` key, no flag, the key file of the
service credentials): it must pick the wazo-auth backend at `auth.*` and
RabbitMQ at `bus.*` (docs/tenbusd.md, "Backends"), and pass delivery,
expiry and @wazo/sdk scenarios against the real broker and the wazo-auth
test double."""

import os
import subprocess

import pytest

import tenbus_harness as th
import test_rabbitmq as rq
from tenbus_harness import ev_user, iso_in
from test_sdk import sdk, sdk_clients  # noqa: F401  (fixtures)
from test_rabbitmq import broker  # noqa: F401  (autouse: skip/fail without a broker)
from test_wazo_auth import SERVICE_ID, SERVICE_KEY, WazoDaemon, double  # noqa: F401

exchange = rq.exchange
pub = rq.pub


class WazoFilesDaemon(WazoDaemon):
    """Writes what a Wazo stack has: /etc/wazo-websocketd/config.yml (the
    package's file) and conf.d/50-stack.yml (what the installer adds)."""

    def __init__(self, workdir, double, exchange, **kw):
        self.exchange = exchange
        super().__init__(workdir, double, **kw)

    def write_config(self):
        confd = os.path.join(self.dir, "conf.d")
        os.makedirs(confd, exist_ok=True)
        with open(self.conf_path, "w") as f:
            f.write(
                "debug: true\n"
                "log_level: info\n"
                "extra_config_files: conf.d\n"
                "user: wazo-websocketd\n"
                "process_workers: 1\n"
                "worker_connections: 1000\n"
                "auth_check_strategy: dynamic\n"
                "websocket:\n"
                "  listen: 127.0.0.1\n"
                "  port: 9502\n"
                "  ping_interval: 60\n"
                "auth:\n"
                "  host: localhost\n"
                "  port: 9497\n"
                "  prefix: null\n"
                "  https: false\n"
                "  key_file: %s\n"
                "bus:\n"
                "  username: guest\n"
                "  password: guest\n"
                "  host: localhost\n"
                "  port: 5672\n"
                "  exchange_name: wazo-headers\n"
                "  exchange_type: headers\n" % self.key_path)
        with open(os.path.join(confd, "50-stack.yml"), "w") as f:
            f.write(
                "uuid: %s\n"
                "websocket: {port: %d}\n"
                "auth: {host: 127.0.0.1, port: %d, timeout: 2}\n"
                "bus: {host: %s, port: %d, exchange_name: %s}\n"
                % (self.uuid, self.port, self.double.port, rq.HOST, rq.PORT, self.exchange))
        with open(self.key_path, "w") as f:
            f.write("service_id: %s\nservice_key: %s\n" % (SERVICE_ID, SERVICE_KEY))


@pytest.fixture
def stack(tmp_path, request, double, exchange):  # noqa: F811
    daemons = []
    request.node._tenbus_daemons = daemons
    if not os.access(th.TENBUSD, os.X_OK):
        pytest.skip("tenbusd not built: %s" % th.TENBUSD)
    d = WazoFilesDaemon(tmp_path / "stack", double, exchange)
    daemons.append(d)
    d.start()
    th.wait_for(lambda: rq.bus_connected(d), timeout=15, interval=0.05, message="bus connected")
    yield d
    d.close()
    d.stop()
    log = d.log_text()
    assert SERVICE_KEY not in log
    assert not [t.id for t in d.tokens if t.id in log], "token ids in the log"


def test_check_config_names_the_backends_and_why(stack):
    r = subprocess.run([th.TENBUSD, "-c", stack.conf_path, "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "bus backend: rabbitmq (bus.* keys set" in r.stdout
    assert "auth backend: wazo-auth (auth.* keys set" in r.stdout
    log = stack.log_text()
    assert "bus backend: rabbitmq" in log and "auth backend: wazo-auth" in log
    assert "tenbusd listening" in log and "bus=rabbitmq auth=wazo-auth" in log


def test_delivery_through_the_stack(stack, pub):
    t1, t2 = th.new_uuid(), th.new_uuid()
    alice, bob, carol = stack.user(t1), stack.user(t1), stack.user(t2)
    wa = stack.session(alice, names=("chatd_user_room_created",))
    wb = stack.session(bob, names=("chatd_user_room_created",), version=1)
    wc = stack.session(carol)
    # No wait for the bindings: the replies promised them.
    m = pub.event(stack, "chatd_user_room_created", tenant=t1, users=[alice.user])
    m_all = pub.event(stack, "chatd_user_room_created", tenant=t1, all_users=True)
    assert [wa.recv_marker(), wa.recv_marker()] == [m, m_all]
    assert wb.recv_marker() == m_all
    wc.assert_no_event()
    # And the HTTP API publishes through the broker too.
    e = ev_user(t1, alice.user, name="chatd_user_room_created")
    stack.publish(e)
    assert wa.recv_marker() == th.marker(e)


def test_expiry_through_the_stack(stack):
    tok = stack.user(expires_at=iso_in(2))
    ws = stack.session(tok)
    ws.expect_close(4003, "authentication expired", timeout=6)
    ws2 = stack.connect(stack.user(expires_at=iso_in(-5)))
    ws2.expect_close(4002, "authentication failed")


def test_sdk_through_the_stack(stack, sdk_clients):  # noqa: F811
    alice = stack.user()
    mallory = stack.user()
    c = sdk_clients(stack, alice, events=["chat_message"], listen=["chat_message"], count=1,
                    user_uuid=alice.user)
    c.wait("initialized")
    stack.publish([ev_user(mallory.tenant, mallory.user, name="chat_message")])
    own = ev_user(alice.tenant, alice.user, name="chat_message")
    stack.publish(own)
    c.finish()
    assert [th.marker(m["data"]) for m in c.of("event")] == [th.marker(own)], c._describe()
