"""A real SLURM on this machine for the tests: munged, slurmctld and slurmd (Debian's slurm-wlm
and munge, which .ci/run installs) started in a folder of their own, one node (this host, with
its CPU count and memory), and stopped by their process ids. `SLURM_CONF` in the environment
of a command points sbatch, squeue and scontrol at it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

ENDED = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY")
DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue")


def missing_programs() -> list[str]:
    return [name for name in DAEMONS if shutil.which(name) is None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mib() -> int:
    with open("/proc/meminfo") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return kib // 1024


SLURM_CONF = """\
ClusterName=tests
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.socket
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
# No cgroups: processes are tracked through /proc, tasks are not bound to CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
# Seconds between SIGTERM and SIGKILL when a job ends early (Lightning ignores SIGTERM on SLURM).
KillWait=3
MailProg=/bin/true
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=tests Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""

# slurmd 22.05 loads a cgroup plugin even with proctrack/linuxproc and task/none; it constrains
# nothing here.
CGROUP_CONF = """\
CgroupPlugin=cgroup/v1
ConstrainCores=no
ConstrainRAMSpace=no
ConstrainDevices=no
"""


class Cluster:
    """One-node SLURM whose files all live in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conf = folder / "slurm.conf"
        self.host = socket.gethostname().split(".")[0]
        self.processes: list[subprocess.Popen] = []
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 30) -> None:
        folder = self.folder
        for sub in ("state", "spool"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)  # munged wants its socket's folder readable by all
        self.conf.write_text(
            SLURM_CONF.format(
                host=self.host,
                folder=folder,
                ctld_port=free_port(),
                slurmd_port=free_port(),
                cpus=os.cpu_count(),
                memory=memory_mib(),
            )
        )
        (folder / "cgroup.conf").write_text(CGROUP_CONF)
        key = folder / "munge.key"
        subprocess.run(["mungekey", "--create", f"--keyfile={key}", "--force"], check=True)
        self._daemon(
            "munged",
            "munged",
            "--foreground",
            "--force",
            f"--socket={folder}/munge.socket",
            f"--key-file={key}",
            f"--log-file={folder}/munged.log",
            f"--pid-file={folder}/munged.pid",
            f"--seed-file={folder}/munged.seed",
        )
        self._wait(lambda: (folder / "munge.socket").exists(), timeout, "munged's socket")
        self._daemon("slurmctld", "slurmctld", "-D", "-c")
        self._daemon("slurmd", "slurmd", "-D", "-N", self.host)
        self._wait(self._node_idle, timeout, "the node to be idle")

    def _daemon(self, name: str, *command: str) -> None:
        log = (self.folder / f"{name}.out").open("w")
        self.processes.append(
            subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        )
        log.close()

    def _node_idle(self) -> bool:
        out = self.run("sinfo", "-h", "-N", "-o", "%t", check=False).stdout.split()
        return out == ["idle"]

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not ready():
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"{process.args[0]} exited ({process.returncode}):\n{self.logs()}"
                    )
            if time.monotonic() > end:
                raise TimeoutError(f"waited {timeout} s for {what}:\n{self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-2000:]}"
            for p in sorted(self.folder.glob("*.out")) + sorted(self.folder.glob("*.log"))
        )

    def stop(self) -> None:
        """Cancel what is left, then SIGTERM each daemon by its id (SIGKILL after 10 s)."""
        if self.processes:
            self.run("scancel", "--full", "--user=root", check=False)
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, check=check, timeout=30
        )

    def sbatch(self, *args: str, env: dict[str, str] | None = None, cwd: Path) -> int:
        out = subprocess.run(
            ["sbatch", "--parsable", *args],
            env={**self.env, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if out.returncode != 0:
            raise RuntimeError(f"sbatch failed: {out.stderr}")
        return int(out.stdout.strip().split(";")[0])

    def state(self, job: int) -> str:
        """PENDING, RUNNING, COMPLETED, FAILED, ... ('' once slurmctld forgot the job)."""
        out = self.run("scontrol", "show", "job", str(job), "-o", check=False).stdout
        fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
        return fields.get("JobState", "")

    def wait_for(self, job: int, states: tuple[str, ...], timeout: float) -> str:
        """The job's state once it is one of `states` or has ended."""
        end = time.monotonic() + timeout
        while (state := self.state(job)) not in (*states, *ENDED):
            if time.monotonic() > end:
                raise TimeoutError(f"job {job} still {state or 'unknown'} after {timeout} s")
            time.sleep(0.5)
        return state

    def scancel(self, job: int) -> None:
        self.run("scancel", str(job), check=False)
