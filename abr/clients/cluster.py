"""The service beyond one process, on this machine: a real Redis, N replicas of `abr serve`
sharing it, and Debian's nginx in front with the deployment's own configuration
(deploy/nginx/abr.conf.template). For the cluster tests and `abr bench-failover`."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from abr.bench.run import run_policy
from abr.clients.net import free_port, wait_until_up
from abr.clients.redis_server import RedisServer
from abr.clients.virtual_players import PlayerResult, ReplayLog, replay
from abr.media.traces import Trace
from abr.media.video import Video
from abr.policies.registry import make_policy

POLICY_NAMES = {"dqn": "onnx"}  # the service's name of a policy -> the bench's

NGINX_TEMPLATE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "abr.conf.template"
# the main configuration around the deployment's server block: a prefix of its own, in the
# foreground, no root paths
NGINX_MAIN = """
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    include {folder}/abr.conf;
}}
"""


def render_template(template: str, values: dict[str, str]) -> str:
    """`${ABR_*}` replaced as the nginx image's envsubst does; nginx's own `$vars` untouched."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"{NGINX_TEMPLATE.name}: no value for ${{{name}}}")
        return values[name]

    return re.sub(r"\$\{(ABR_[A-Z_]+)\}", value, template)


class Replica:
    """`abr serve` on a fixed port, restartable on that port."""

    def __init__(self, port: int, env: dict[str, str], workers: int, log: Path) -> None:
        self.port, self.env, self.workers, self.log = port, env, workers, log
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "abr.cli", "serve", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [*command, "--workers", str(self.workers)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,  # its workers die with it (killpg)
            )
        with open(self.log, "rb") as log:
            wait_until_up(self.process, self.url, timeout_s=60, output=log)

    def kill(self) -> None:
        """SIGKILL to the replica and its workers, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


class Cluster:
    def __init__(self, folder: Path, replicas: int, workers: int, env: dict[str, str]) -> None:
        nginx_binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
        if nginx_binary is None:
            raise RuntimeError(
                "nginx is not installed (Debian: apt-get install nginx; `make player-deps` does it)"
            )
        self.nginx_binary: str = nginx_binary
        self.folder = folder
        self.redis = RedisServer(folder / "redis")
        store = {"ABR_STORE": self.redis.url, **env}
        self.replicas = [
            Replica(free_port(), store, workers, folder / f"replica{i}.log")
            for i in range(replicas)
        ]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.nginx: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.redis.start()
        for replica in self.replicas:
            replica.start()
        self._start_nginx()

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        for replica in self.replicas:
            replica.stop()
        self.redis.stop()

    def restart_redis(self) -> None:
        """SIGKILL to Redis, then the same server again: it reloads its append-only file."""
        self.redis.kill()
        self.redis.start()

    def _start_nginx(self) -> None:
        nginx = self.folder / "nginx"
        nginx.mkdir(parents=True, exist_ok=True)
        servers = " ".join(
            f"server 127.0.0.1:{replica.port} max_fails=1 fail_timeout=2s;"
            for replica in self.replicas
        )
        values = {"ABR_LISTEN": f"127.0.0.1:{self.port}", "ABR_UPSTREAM_SERVERS": servers}
        (nginx / "abr.conf").write_text(render_template(NGINX_TEMPLATE.read_text(), values))
        (nginx / "nginx.conf").write_text(NGINX_MAIN.format(folder=nginx))
        with open(nginx / "stderr.log", "w+b") as output:
            self.nginx = subprocess.Popen(
                [self.nginx_binary, "-p", str(nginx), "-c", str(nginx / "nginx.conf")]
                + ["-g", "daemon off;"],
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
            wait_until_up(self.nginx, self.url, timeout_s=10, output=output)


@contextmanager
def running_cluster(
    folder: Path, replicas: int = 2, workers: int = 1, env: dict[str, str] | None = None
) -> Iterator[Cluster]:
    cluster = Cluster(folder, replicas, workers, env or {})
    with ExitStack() as stack:
        stack.callback(cluster.stop)
        cluster.start()
        yield cluster


@dataclass(frozen=True)
class FailoverRun:
    """What the players saw while one part of the cluster was killed and restarted."""

    failure: str  # "replica" or "redis"
    players: int
    completed: int  # players that played their whole video
    abandoned: int  # sessions given up after their retries
    as_offline: int  # completed players whose every level is the offline bench's
    retries: int
    retries_by_kind: dict[str, int]
    errors_by_kind: dict[str, int]
    down_s: float  # from the SIGKILL until the part answered again
    wall_s: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def failover_run(
    cluster: Cluster,
    failure: str,
    traces: Sequence[Trace],
    video: Video,
    policy: str,
    players: int,
    pace: str,
    kill_after_s: float,
) -> FailoverRun:
    """`players` virtual players through nginx; after `kill_after_s`, SIGKILL to the first
    replica (then it starts again on its port) or to Redis (then it reloads its append-only
    file). Every completed player's levels are compared with the offline bench's for its trace:
    a report applied twice, lost or decided from a wrong state would show there."""
    if failure not in ("replica", "redis"):
        raise ValueError(f"failure must be replica or redis, got {failure!r}")
    outcome: list[tuple[list[PlayerResult], list[Trace], ReplayLog]] = []
    options = dict(
        server=cluster.url,
        traces=traces,
        video=video,
        policy=policy,
        concurrency=players,
        pace=pace,
    )
    thread = threading.Thread(target=lambda: outcome.append(replay(**options)))
    started = time.perf_counter()
    thread.start()
    time.sleep(kill_after_s)
    killed = time.perf_counter()
    if failure == "replica":
        cluster.replicas[0].kill()
        cluster.replicas[0].start()
    else:
        cluster.restart_redis()
    down_s = time.perf_counter() - killed
    thread.join()
    results, played, log = outcome[0]
    offline = run_policy(make_policy(POLICY_NAMES.get(policy, policy)), traces, video)
    column = {trace.name: i for i, trace in enumerate(traces)}
    as_offline = sum(
        bool(np.array_equal(result.levels, offline.levels[:, column[trace.name]]))
        for result, trace in zip(results, played, strict=True)
        if result.complete
    )
    return FailoverRun(
        failure,
        len(results),
        sum(result.complete for result in results),
        log.abandoned,
        as_offline,
        sum(log.retries.values()),
        dict(log.retries),
        dict(log.errors),
        down_s,
        time.perf_counter() - started,
    )
