"""The daemon and the console script, run inside the test process.

Engine stories need the daemon's behaviour, not a new Python process per command: starting
one costs a second or more of imports, and a story runs dozens. :func:`invoke` runs the very
click command a user types (``reconciler.cli.main``) with click's own runner and returns a
``CompletedProcess`` like ``subprocess.run`` would; :class:`InProcessDaemon` runs
``innominatus run``'s own composition (``build`` + ``run_daemon``) in a thread of its own, with
the interface of the ``Popen`` the subprocess tests hold (``terminate``, ``wait``, ``poll``).

What only a process can show stays a subprocess test: signals (SIGTERM draining, kill -9),
a second process on one database, exit codes and output of the console script itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner

_LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@contextlib.contextmanager
def _environment(env: Mapping[str, str] | None) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _own_root_logging() -> Iterator[None]:
    """The CLI configures the root logger (``logging.basicConfig``) as if it owned the process:
    let it, then give the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers = []
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers = handlers
        root.setLevel(level)


@contextlib.contextmanager
def _working_directory(cwd: Path | None) -> Iterator[None]:
    """``cwd`` as the working directory, and ``tempfile`` asked again where ``TMPDIR`` is (it
    caches its answer for the process)."""
    tempfile.tempdir = None
    try:
        with contextlib.chdir(cwd) if cwd is not None else contextlib.nullcontext():
            yield
    finally:
        tempfile.tempdir = None


def invoke(
    args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``innominatus ARGS`` in this process, in ``cwd``: exit code, stdout and stderr as a
    subprocess would give them."""
    from reconciler.cli import main

    runner = CliRunner()
    with _environment(env), _working_directory(cwd), _own_root_logging():
        result = runner.invoke(main, list(args), catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(
        ["innominatus", *args], result.exit_code, result.stdout, stderr
    )


class InProcessDaemon:
    """``innominatus run --config CONFIG`` in a thread: the same components and the same
    ``run_daemon`` as the console script, stopped the way SIGTERM stops it."""

    def __init__(self, config: Path, *, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = dict(env or {})
        self.url = ""
        self.returncode: int | None = None
        self.error: BaseException | None = None
        self._log = io.StringIO()
        self._handler = logging.StreamHandler(self._log)
        self._handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        self._listening = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="innominatus-run", daemon=True)
        self._saved_env: contextlib.ExitStack | None = None

    # Popen's interface, as far as the tests use it ---------------------------------------
    def start(self, *, timeout: float = 30.0) -> InProcessDaemon:
        self._saved_env = contextlib.ExitStack()
        self._saved_env.enter_context(_environment(self.env))
        logger = logging.getLogger("reconciler")
        logger.addHandler(self._handler)
        self._level = logger.level
        logger.setLevel(logging.INFO)
        self._thread.start()
        if not self._listening.wait(timeout) or self.returncode is not None:
            self._thread.join(timeout=30)
            self._release()
            raise AssertionError(f"daemon did not start ({self.error!r}):\n{self.log()}")
        return self

    def terminate(self) -> None:
        """What SIGTERM does: stop taking work, drain, stop."""
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)

    def send_signal(self, _signal: int) -> None:
        self.terminate()

    def wait(self, timeout: float | None = None) -> int:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise subprocess.TimeoutExpired(["innominatus", "run"], timeout or 0)
        self._release()
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode

    def log(self) -> str:
        return self._log.getvalue()

    # the thread ---------------------------------------------------------------------------
    def _main(self) -> None:
        from reconciler.assembly.runtime import build, run_daemon
        from reconciler.errors import InnominatusError
        from reconciler.settings import load_settings

        try:
            components = build(load_settings(self.config), lock=True)
        except BaseException as exc:
            self.error, self.returncode = exc, 1
            self._listening.set()
            return
        try:
            asyncio.run(self._serve(components, run_daemon))
            self.returncode = 0
        except InnominatusError as exc:
            self.error, self.returncode = exc, 1
            logging.getLogger("reconciler").error("error: %s", exc.message)
        except BaseException as exc:
            self.error, self.returncode = exc, 1
            logging.getLogger("reconciler").exception("the daemon crashed")
        finally:
            components.close()
            self._listening.set()

    async def _serve(self, components: object, run_daemon: object) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def listening(url: str) -> None:
            self.url = url
            self._listening.set()

        await run_daemon(components, on_listening=listening, stop=self._stop)  # type: ignore[operator]

    def _release(self) -> None:
        logger = logging.getLogger("reconciler")
        logger.removeHandler(self._handler)
        logger.setLevel(self._level)
        if self._saved_env is not None:
            self._saved_env.close()
            self._saved_env = None


@contextlib.contextmanager
def in_process_daemon(
    config: Path, *, env: Mapping[str, str] | None = None
) -> Iterator[tuple[InProcessDaemon, str]]:
    """``(daemon, status URL)``; the daemon is stopped (and waited for) on the way out, and
    its log is printed when the block fails."""
    daemon = InProcessDaemon(config, env=env).start()
    try:
        yield daemon, daemon.url
    except BaseException:
        print(daemon.log())
        raise
    finally:
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=60)
