"""A real Ray cluster on this machine: a head node and a second node, each ``ray start``ed with
one CPU, for the Ray executor's tests and benchmark.

Two ``ray start`` on one host work: the second node gets its own raylet (``raylet.1`` sockets in
the same session) and node id. Every process a cluster starts is found by its session folder (a
temp dir of its own) or as a child of one of those, and ended by pid: nothing else on the
machine is touched (``ray stop --force`` would end every Ray process of the user).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.server import free_port

RAY = str(Path(sys.executable).with_name("ray"))
# The GCS declares a node dead after about 3 s without it, not the default 30
FAST_HEALTH_CHECKS = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                      "RAY_health_check_timeout_ms": "1000"}


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can read."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry.name)] = (parent, command)
    return found


def _with_children(roots: set[int], processes: dict[int, tuple[int, str]]) -> set[int]:
    tree, grew = set(roots), True
    while grew:
        more = {pid for pid, (parent, _) in processes.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def kill_tree(roots: set[int]) -> None:
    for pid in _with_children(roots, _processes()):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class RayCluster:
    temp_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="brray", dir="/tmp")))
    port: int = field(default_factory=free_port)
    object_store_bytes: int = 80 * 1024 * 1024
    env: dict[str, str] = field(default_factory=dict)  # what the nodes' processes see (an S3 key, as a node would have)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, nodes: int = 2) -> RayCluster:
        common = ["--num-cpus", "1", "--object-store-memory", str(self.object_store_bytes), "--disable-usage-stats"]
        self._ray("start", "--head", "--port", str(self.port), "--include-dashboard=false",
                  "--temp-dir", str(self.temp_dir), *common)
        for _ in range(nodes - 1):
            self._ray("start", "--address", self.address, *common)
        deadline = time.monotonic() + 30
        while len(self.raylets()) < nodes and time.monotonic() < deadline:
            time.sleep(0.2)
        return self

    def _ray(self, *args: str) -> None:
        env = {**os.environ, **self.env, **FAST_HEALTH_CHECKS}
        done = subprocess.run([RAY, *args], capture_output=True, text=True, env=env, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def raylets(self) -> dict[str, int]:
        """node id -> raylet pid, for this cluster's nodes (the head's first)."""
        found = []
        for pid, (_, command) in _processes().items():
            if "/raylet " in command and f"--session_dir={self.temp_dir}/" in command:
                socket = command.split("--raylet_socket_name=", 1)[1].split()[0]
                node_id = command.split("--node_id=", 1)[1].split()[0]
                found.append((socket, node_id, pid))
        return {node_id: pid for _, node_id, pid in sorted(found)}

    def actors(self, actor_class: str) -> dict[int, tuple[str, bool]]:
        """pid -> (node id, between calls) of each process holding an ``actor_class`` actor. Ray
        titles it ``ray::Class`` between calls and ``ray::Class.method`` while it runs one."""
        processes, title = _processes(), f"ray::{actor_class}"
        found = {}
        for node_id, raylet in self.raylets().items():
            for pid in _with_children({raylet}, processes):
                command = processes.get(pid, (0, ""))[1].strip()
                if command == title or command.startswith(f"{title}."):
                    found[pid] = (node_id, command == title)
        return found

    def kill_node(self, node_id: str) -> None:
        """SIGKILL a node's raylet and every process under it (its workers, the actors among them)."""
        kill_tree({self.raylets()[node_id]})

    def stop(self) -> None:
        roots = {pid for pid, (_, command) in _processes().items() if str(self.temp_dir) in command}
        kill_tree(roots)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
