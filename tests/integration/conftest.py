"""pytest fixtures for the tenbusd integration suite.

Each test gets its own daemon (own port, directory, stack uuid, master tenant
and tokens), so tests are independent and can run in parallel processes.
The daemon starts lazily: add tokens first, then connect/publish (or call
.start()). At teardown it is stopped with SIGTERM and must exit 0 within 5 s.
When a test fails, the daemon's stderr is attached to the report.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tenbus_harness as th  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--shard", default=None, metavar="I/N",
                     help="run only the I-th of N slices of the tests (0-based), to run "
                          "several pytest processes in parallel without pytest-xdist")


def pytest_collection_modifyitems(config, items):
    shard = config.getoption("--shard")
    if not shard:
        return
    i, n = (int(x) for x in shard.split("/"))
    keep = [it for k, it in enumerate(items) if k % n == i]
    config.hook.pytest_deselected(items=[it for it in items if it not in keep])
    items[:] = keep


def pytest_configure(config):
    # The isolation property tests' random seed: chosen once per run, shown
    # in the header, so any failure can be replayed (TENBUS_PROPERTY_SEED).
    if not os.environ.get("TENBUS_PROPERTY_SEED"):
        import random
        os.environ["TENBUS_PROPERTY_SEED"] = str(random.randrange(1 << 30))
    config.addinivalue_line("markers", "flaky(reruns=0): pytest-rerunfailures' per-test reruns")


def pytest_report_header(config):
    return "isolation property random seed: %s (TENBUS_PROPERTY_SEED)" % \
        os.environ["TENBUS_PROPERTY_SEED"]


def pytest_runtest_logreport(report):
    """A failure that gets rerun (pytest-rerunfailures, outcome "rerun")
    would otherwise leave no trace but its name in the summary: print its
    output in full, so every flake in a CI log can be chased."""
    if report.outcome != "rerun":
        return
    tr = _config.pluginmanager.get_plugin("terminalreporter") if _config else None
    if tr is None:
        return
    tr.write_sep("!", "RERUN of %s: output of the failed run" % report.nodeid)
    tr.write_line(report.longreprtext or "(no failure text)")
    for title, text in report.sections:
        tr.write_sep("-", title)
        tr.write_line(text[-20000:])
    tr.write_sep("!", "end of RERUN output")


_config = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    global _config
    _config = session.config


def _binary_check():
    if not os.access(th.TENBUSD, os.X_OK):
        pytest.skip("tenbusd not built: %s (set TENBUSD=/path/to/tenbusd)" % th.TENBUSD)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for d in getattr(item, "_tenbus_daemons", ()):
            text = d.log_text()
            if text or d.proc is not None:
                rep.sections.append(("tenbusd %s (port %d)" % (d.dir, d.port),
                                     text[-20000:] or "(empty)"))


@pytest.fixture
def make_daemon(tmp_path, request):
    """Factory: make_daemon(strategy="static", static_interval=1, ...) -> Daemon
    (not started). All are stopped and checked at teardown."""
    _binary_check()
    daemons = []
    request.node._tenbus_daemons = daemons

    def make(**kw):
        d = th.Daemon(tmp_path / ("d%d" % len(daemons)), **kw)
        daemons.append(d)
        return d

    yield make
    errors = []
    for d in daemons:
        try:
            d.close()
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def daemon(make_daemon):
    """One tenbusd with the default config (dynamic auth check)."""
    return make_daemon()


@pytest.fixture
def cli_path():
    if not os.access(th.TENBUS_CLI, os.X_OK):
        pytest.skip("tenbus CLI not built: %s (set TENBUS_CLI)" % th.TENBUS_CLI)
    return th.TENBUS_CLI
