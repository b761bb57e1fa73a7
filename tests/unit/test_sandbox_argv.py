"""The sandbox as data: the bwrap/prlimit argv a policy gives a step's program, how a failed
program's limit is named, and the ``sandbox`` settings with their platform maxima."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from pydantic import ValidationError

from reconciler.executors.sandbox import (
    Confinement,
    Limits,
    SandboxPolicy,
    bwrap_argv,
    confined_argv,
    exceeded,
    prlimit_argv,
)
from reconciler.settings import Settings

LIMITS = Limits(
    cpu_seconds=60,
    memory=256 * 1024**2,
    open_files=64,
    processes=32,
    output_size=1024**2,
)
POLICY = SandboxPolicy(
    limits=LIMITS,
    bwrap="/usr/bin/bwrap",
    prlimit="/usr/bin/prlimit",
    read_only=(Path("/usr"), Path("/etc")),
    symlinks=((Path("/bin"), "usr/bin"),),
    hidden=(Path("/etc/innominatus/data"),),
    secret=(Path("/var/lib/innominatus"),),
)
DATA = Path("/var/lib/innominatus")
CONFINEMENT = Confinement(
    policy=POLICY,
    workdir=DATA / "work/7",
    state_dir=DATA / "state/db-1",
    provider_dir=DATA / "providers/dns",
)


def pairs(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, item in enumerate(argv) if item == option]


def test_the_step_sees_its_own_folders_and_a_read_only_system() -> None:
    argv = bwrap_argv(
        POLICY,
        writable=[CONFINEMENT.workdir, CONFINEMENT.state_dir],
        read_only=[CONFINEMENT.provider_dir],
        cwd=CONFINEMENT.workdir,
    )
    assert argv[0] == "/usr/bin/bwrap"
    assert {"--die-with-parent", "--unshare-pid"} <= set(argv)
    assert "--unshare-net" not in argv
    assert pairs(argv, "--ro-bind") == ["/usr", "/etc", str(CONFINEMENT.provider_dir)]
    assert pairs(argv, "--bind") == [str(CONFINEMENT.workdir), str(CONFINEMENT.state_dir)]
    assert pairs(argv, "--symlink") == ["usr/bin"]
    assert pairs(argv, "--proc") == ["/proc"]
    assert pairs(argv, "--dev") == ["/dev"]
    assert argv[-3:] == ["--chdir", str(CONFINEMENT.workdir), "--"]
    assert not any(item == str(DATA) for item in argv)  # data_dir itself is never mounted


def test_private_folders_come_first_and_hidden_ones_before_the_steps_own() -> None:
    argv = bwrap_argv(
        POLICY, writable=[Path("/w")], read_only=[Path("/p")], cwd=Path("/w"), home=Path("/root")
    )
    tmpfs = pairs(argv, "--tmpfs")
    assert tmpfs == ["/tmp", "/root", "/dev/shm", "/etc/innominatus/data"]
    assert argv.index("/tmp") < argv.index("/usr")  # system binds may land under /tmp or HOME
    assert argv.index("/etc/innominatus/data") > argv.index("/etc")  # data_dir hidden again
    assert argv.index("/etc/innominatus/data") < argv.index("/w")
    assert argv.index("--remount-ro") > argv.index("/w")


def test_network_none_unshares_the_network() -> None:
    policy = SandboxPolicy(limits=LIMITS, bwrap="/usr/bin/bwrap", network="none")
    assert "--unshare-net" in bwrap_argv(policy, writable=[], read_only=[], cwd=Path("/w"))


def test_prlimit_sets_cpu_memory_open_files_and_file_size() -> None:
    assert prlimit_argv("/usr/bin/prlimit", LIMITS) == [
        "/usr/bin/prlimit",
        "--cpu=60:62",
        f"--as={256 * 1024**2}",
        "--nofile=64",
        f"--fsize={1024**2}",
        "--",
    ]


def test_the_layers_wrap_the_program_outside_in() -> None:
    procs = Path("/sys/fs/cgroup/pids/innominatus/step-1/cgroup.procs")
    argv = confined_argv(
        ["/usr/bin/bash", "script.sh"], CONFINEMENT, cwd=CONFINEMENT.workdir, procs_file=procs
    )
    assert argv[:4] == ["/bin/sh", "-c", 'echo $$ >"$0" && exec "$@"', str(procs)]
    assert argv[4] == "/usr/bin/prlimit"
    assert argv.index("/usr/bin/bwrap") > argv.index("/usr/bin/prlimit")
    assert argv[-2:] == ["/usr/bin/bash", "script.sh"]


def test_a_program_outside_the_system_has_its_folder_shown_but_never_data_dir() -> None:
    mounted = confined_argv(["/opt/kube/kubectl"], CONFINEMENT, cwd=CONFINEMENT.workdir)
    assert "/opt/kube" in pairs(mounted, "--ro-bind")
    inside = confined_argv([str(DATA / "bin/tool")], CONFINEMENT, cwd=CONFINEMENT.workdir)
    assert str(DATA / "bin") not in pairs(inside, "--ro-bind")


def test_without_bubblewrap_only_the_limits_apply() -> None:
    policy = SandboxPolicy(limits=LIMITS, prlimit="/usr/bin/prlimit")
    argv = confined_argv(
        ["/usr/bin/true"],
        Confinement(policy, Path("/w"), Path("/s"), Path("/p")),
        cwd=Path("/w"),
    )
    assert argv == [*prlimit_argv("/usr/bin/prlimit", LIMITS), "/usr/bin/true"]


@pytest.mark.parametrize(
    ("exit_code", "log", "processes", "named"),
    [
        (1, "BlockingIOError", True, "process limit (32 processes; sandbox.limits.processes)"),
        (128 + signal.SIGXCPU, "", False, "CPU time limit (60 s; sandbox.limits.cpu_seconds)"),
        (-signal.SIGXCPU, "", False, "CPU time limit (60 s"),
        (128 + signal.SIGXFSZ, "", False, "output size limit (1 MiB per file written"),
        (1, "MemoryError", False, "memory limit (256 MiB; sandbox.limits.memory)"),
        (1, "tail: memory exhausted", False, "memory limit (256 MiB"),
        (128 + signal.SIGSEGV, "", False, "killed by SIGSEGV, which under its address-space"),
        (1, "OSError: [Errno 24] Too many open files", False, "open files limit (64;"),
    ],
)
def test_a_failed_program_names_the_limit_it_ran_into(
    exit_code: int, log: str, processes: bool, named: str
) -> None:
    found = exceeded(LIMITS, exit_code=exit_code, log_tail=log, hit_process_limit=processes)
    assert found is not None
    assert named in found


def test_an_ordinary_failure_names_no_limit() -> None:
    assert exceeded(LIMITS, exit_code=1, log_tail="error: no", hit_process_limit=False) is None
    assert exceeded(LIMITS, exit_code=0, log_tail="MemoryError", hit_process_limit=True) is None


def test_sandbox_settings_default_to_auto_with_host_network_and_sizes_in_gib() -> None:
    settings = Settings(sandbox={"limits": {"memory": "2GiB", "output_size": "512MiB"}})
    assert settings.sandbox.mode == "auto"
    assert settings.sandbox.network == "host"
    assert settings.sandbox.limits.memory == 2 * 1024**3
    assert settings.sandbox.limits.output_size == 512 * 1024**2


def test_a_provider_limit_above_the_platform_maximum_is_refused_by_key() -> None:
    with pytest.raises(ValidationError, match=r"providers\.dns\.sandbox\.limits\.memory"):
        Settings(
            providers=[
                {
                    "name": "dns",
                    "path": "/p",
                    "sandbox": {"limits": {"memory": "32GiB"}},
                }
            ]
        )
    within = Settings(
        providers=[{"name": "dns", "path": "/p", "sandbox": {"network": "none"}}],
    )
    assert within.providers[0].sandbox is not None
    assert within.providers[0].sandbox.network == "none"


def test_a_default_limit_above_the_maximum_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"limits\.processes .* max\.processes"):
        Settings(sandbox={"limits": {"processes": 100}, "max": {"processes": 50}})


def test_a_relative_writable_folder_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an absolute path"):
        Settings(providers=[{"name": "dns", "path": "/p", "sandbox": {"writable": ["hosts"]}}])
