"""Benchmark: the real iot-support against a bare Quart route and nginx, at several fleet sizes.

For each size N it generates N configs with ../shared/bench/gen_configs.py, starts the real
`iot-support`, a bare Quart app (the framework floor) and nginx on loopback, drives each scenario
with wrk from a separate process, and reads each server's CPU time from /proc/<pid>/stat before
and after. It prints a Markdown table and a verdict per target, and writes them with the raw
figures and a chart to a scratch directory; `--refresh` writes them to bench/results/ instead,
the committed results (do that only with a full run on a quiet machine).

    python bench/run.py [--sizes 200,2000,20000] [--seconds 3] [--repeat 3] [--connections 16]
    python bench/run.py --sizes 200 --seconds 1 --repeat 1   # a quick look
    python bench/run.py --only "device fetch,health"          # some scenarios (and the floors)
    python bench/run.py --refresh                             # refresh the committed results
    python bench/run.py --sizes 20000 --only list --history-depth 100   # list beside a history
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
# The repository's root, for the nginx configuration the tests run too (tests/nginx.py).
sys.path.insert(0, str(HERE.parent))
from tests.nginx import nginx_config  # noqa: E402

# The shared data generator, next to this repository (`../shared`) unless told otherwise.
GENERATOR = Path(
    os.environ.get("BENCH_GENERATOR", HERE.parents[1] / "shared" / "bench" / "gen_configs.py")
)
SERVER = Path(sys.executable).with_name("iot-support")
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    scenario: str
    size: int
    requests: int = 0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    cpu_ms: float = 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_ms / self.requests if self.requests else float("nan")


@dataclass
class SizeReport:
    size: int
    results: list[Result] = field(default_factory=list)
    startup_s: float = 0.0
    rss_mb: float = 0.0
    # CPU ms per save of the storage adapter alone (bench/storage_alone.py), by save scenario.
    storage_ms: dict[str, float] = field(default_factory=dict)

    def get(self, scenario: str) -> Result:
        return next(r for r in self.results if r.scenario == scenario)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_ms(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (whole thread group)
    return total * 1000 / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not come up")


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def nginx(directory: Path, work: Path) -> Iterator[tuple[str, list[int]]]:
    port = free_port()
    config = work / "nginx.conf"
    static = f"location /api/configs/ {{ alias {directory}/; default_type application/json; }}"
    config.write_text(nginx_config(work, f"listen 127.0.0.1:{port};\n{static}"))
    with process([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(config)]) as master:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(httpx.TransportError):
                httpx.get(base, timeout=1)
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start")
            time.sleep(0.02)
        children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
        yield base, [master.pid, *map(int, children)]


def run_wrk(
    url: str, lines: list[str], body: Path, work: Path, seconds: float, connections: int
) -> tuple[int, float, float, float, int]:
    request_file = work / "requests.tsv"
    request_file.write_text("\n".join(lines) + "\n")
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(HERE / "requests.lua"),
        url,
        "--",
        str(request_file),
        str(body),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    ):
        errors += sum(int(g) for g in m.groups())

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return requests, rps, percentile("50"), percentile("99"), errors


def etag(path: Path) -> str:
    return '"' + hashlib.sha256(path.read_bytes()).hexdigest()[:32] + '"'


@dataclass(frozen=True)
class Load:
    seconds: float  # per measured wrk run
    connections: int
    repeats: int  # measured runs per scenario; the one with the median CPU per request counts


def measure(
    name: str,
    size: int,
    url: str,
    pids: list[int],
    lines: list[str],
    body: Path,
    work: Path,
    load: Load,
) -> Result:
    """The scenario's figures from the median of `load.repeats` runs (by CPU per request): the
    machine is shared, and one run can land on a neighbour's burst."""
    run_wrk(url, lines, body, work, 1, load.connections)  # warm-up, not counted
    runs = []
    for _ in range(load.repeats):
        before = cpu_ms(pids)
        figures = run_wrk(url, lines, body, work, load.seconds, load.connections)
        runs.append(Result(name, size, *figures, cpu_ms(pids) - before))
    result = sorted(runs, key=lambda run: run.cpu_ms_per_request)[len(runs) // 2]
    print(
        f"  {name:<18} {result.rps:>9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors:>4}  "
        f"cpu {result.cpu_ms_per_request:7.3f} ms/req "
        f"(runs: {', '.join(f'{run.cpu_ms_per_request:.3f}' for run in runs)})",
        flush=True,
    )
    return result


def bench_size(
    size: int, load: Load, body: Path, only: set[str] | None = None, history_depth: int = 0
) -> SizeReport:
    report = SizeReport(size)
    with tempfile.TemporaryDirectory(prefix="iot-bench-") as temp:
        work = Path(temp)
        configs = work / "configs"
        subprocess.run(
            [sys.executable, str(GENERATOR), str(configs), str(size), "42"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        macs = sorted(p.name.removesuffix(".json") for p in configs.glob("*.json"))
        if history_depth:
            fill_history(configs, macs, history_depth)
        # Every device, in a shuffled order: caches are measured full, as a fleet fills them.
        sample = random.Random(7).sample(macs, len(macs))
        one = work / "one.json"
        one.write_bytes((configs / f"{sample[0]}.json").read_bytes())

        saves = [
            ("save spread", [f"PUT\t/api/configs/{m}" for m in sample]),
            ("save one", [f"PUT\t/api/configs/{sample[0]}"]),
        ]
        with service(configs) as (base, server, startup_s):
            report.startup_s = startup_s
            pids = [server.pid]
            fetch = [f"GET\t/api/configs/{m}.json" for m in sample]
            poll = [
                f"GET\t/api/configs/{m}.json\tIf-None-Match: {etag(configs / f'{m}.json')}"
                for m in sample
            ]
            scenarios = [
                ("device fetch", fetch),
                ("304 poll", poll),
                ("admin get", [f"GET\t/api/configs/{m}" for m in sample]),
                ("list", ["GET\t/api/configs"]),
                # Every device checked in by the fetches above: the fleet as devices see it.
                ("devices", ["GET\t/api/devices"]),
                ("health", ["GET\t/api/health"]),
                ("metrics", ["GET\t/metrics"]),
                *saves,
                # One config's 100 newest revisions: "save one" above left more than that.
                ("history list", [f"GET\t/api/configs/{sample[0]}/history?limit=100"]),
            ]
            for name, lines in scenarios:
                if only is not None and name not in only:
                    continue
                if name == "history list":
                    keep_history(base, sample[0], body)
                if name == "save spread":
                    record_every_config_once(base, sample, body)
                if name in DOWNLOADS:
                    every_device_once(base, lines)
                report.results.append(measure(name, size, base, pids, lines, body, work, load))
            report.rss_mb = rss_mb(server.pid)
            print(
                f"  start-up to healthy {report.startup_s:.2f} s; "
                f"resident memory after the run {report.rss_mb:.1f} MB",
                flush=True,
            )

        # The same scenarios with a feature off: what the feature costs, measured in this run.
        for comparison in COMPARISONS:
            chosen = [
                (name, lines)
                for name, lines in scenarios
                if name in comparison.scenarios and (only is None or name in only)
            ]
            if not chosen:
                continue
            with service(configs, **{comparison.variable: "off"}) as (base, server, _):
                for name, lines in chosen:
                    if name in DOWNLOADS:
                        every_device_once(base, lines)
                    off_name = f"{name}{comparison.suffix}"
                    report.results.append(
                        measure(off_name, size, base, [server.pid], lines, body, work, load)
                    )

        floor_port = free_port()
        with process(
            [sys.executable, str(HERE / "floor_app.py"), "127.0.0.1", str(floor_port), str(one)]
        ) as floor:
            floor_url = f"http://127.0.0.1:{floor_port}"
            wait_until_up(f"{floor_url}/floor", floor)
            for name, line in (
                ("floor (bare Quart)", "GET\t/floor"),
                ("floor PUT (bare Quart)", "PUT\t/floor"),
            ):
                report.results.append(
                    measure(name, size, floor_url, [floor.pid], [line], body, work, load)
                )

        for scenario, flags in (("save spread", []), ("save one", ["--one"])):
            if only is None or scenario in only:
                for name, more in ((scenario, []), (f"{scenario}{OFF}", ["--no-history"])):
                    runs = sorted(
                        storage_alone(work / "storage", body, [*flags, *more])
                        for _ in range(load.repeats)
                    )
                    report.storage_ms[name] = runs[len(runs) // 2]
                    print(f"  storage alone, {name}: {report.storage_ms[name]:.3f} ms/save")

        with nginx(configs, work) as (nginx_url, nginx_pids):
            report.results.append(
                measure(
                    "nginx fetch",
                    size,
                    nginx_url,
                    nginx_pids,
                    fetch,
                    body,
                    work,
                    load,
                )
            )
    return report


@dataclass(frozen=True)
class Comparison:
    """Scenarios run again with a feature off (`variable`=off), and the most the feature may
    add to their CPU (`ratio`)."""

    feature: str
    variable: str
    suffix: str
    scenarios: tuple[str, ...]
    ratio: float


# Issue 18: reading the fleet as devices see it costs about what the config list costs.
DEVICES_TO_LIST_RATIO = 1.5
OFF = ", history off"
COMPARISONS = (
    # Issue 17: a save with history at most 1.25x the CPU of one without (and a page of 100
    # revisions within 3x the floor, in TARGETS).
    Comparison("history", "HISTORY", OFF, ("save spread", "save one"), 1.25),
    # Issue 18: recording check-ins costs a device fetch or a 304 at most 5%.
    Comparison("check-ins", "CHECKINS", ", check-ins off", ("device fetch", "304 poll"), 1.05),
)


@contextlib.contextmanager
def service(configs: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """The real service on `configs`: its URL, its process and its start-up time, once the
    start-up listing is done (so it is not billed to the first scenario)."""
    port = free_port()
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ESP32_CONFIGS_DIR": str(configs),
        **env,
    }
    with process([str(SERVER)], environment) as server:
        base = f"http://127.0.0.1:{port}"
        startup_s = wait_until_up(f"{base}/api/health", server)
        httpx.get(f"{base}/api/configs", timeout=120).raise_for_status()
        yield base, server, startup_s


def fill_history(configs: Path, macs: list[str], depth: int) -> None:
    """`depth` revisions of every config in `.history/`, in the documented format (a header
    line, then the bytes), as if each had been saved `depth` times: what the list must not
    walk (issue 17: 20,000 configs x 100 revisions leave it as fast as before)."""
    started = time.monotonic()
    for mac in macs:
        stored = (configs / f"{mac}.json").read_bytes()
        etag = hashlib.sha256(stored).hexdigest()[:32]
        directory = configs / ".history" / mac
        directory.mkdir(parents=True)
        for seq in range(1, depth + 1):
            header = {"revision": f"{seq:012d}", "operation": "save", "saved_at": time.time()}
            header |= {"etag": etag, "size": len(stored)}
            (directory / f"{seq:012d}.rev").write_bytes(
                json.dumps(header).encode() + b"\n" + stored
            )
    print(
        f"  history: {len(macs)} configs x {depth} revisions written in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )


def record_every_config_once(base: str, macs: list[str], body: Path) -> None:
    """One save of every config before the spread saves are measured: the generated configs
    predate the service, so each one's first save also records the version found as
    `external`, a one-time cost a fleet pays once, not on every save."""

    def save(mac: str) -> None:
        httpx.put(
            f"{base}/api/configs/{mac}",
            content=body.read_bytes(),
            headers={"Content-Type": "application/json"},
            timeout=60,
        ).raise_for_status()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(save, macs))


# Device downloads are measured as a fleet in steady state makes them (see every_device_once).
DOWNLOADS = ("device fetch", "304 poll")
# A little over the service's default CHECKIN_FLUSH_SECONDS.
FLUSH_WAIT_SECONDS = 11.0


def every_device_once(base: str, lines: list[str]) -> None:
    """Every device's download once, then a check-in flush: a fleet's devices have files on
    the share that already say what their next download says (a device's first `200`, its
    first `304` after one, each rewrite its file once, by the refresh rule), so what is
    measured is the download and its check-in, not the one-time writes of a fleet's first
    minute (bench/checkin_flush.py measures those). The same for every server compared."""

    limits = httpx.Limits(max_connections=16)
    with httpx.Client(base_url=base, timeout=60, limits=limits) as client:
        # As wrk asks, with no User-Agent: another one would be news to every device's file.
        del client.headers["User-Agent"]

        def download(line: str) -> None:
            method, path, *headers = line.split("\t")
            client.request(method, path, headers=dict(h.split(": ", 1) for h in headers))

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(download, lines))
        time.sleep(FLUSH_WAIT_SECONDS)
        # And until that flush's writes are done (a server with check-ins off has none).
        deadline = time.monotonic() + 120
        written = None
        while time.monotonic() < deadline:
            metrics = client.get("/metrics").text
            found = re.search(r"^iot_checkins_written_total (\S+)$", metrics, re.MULTILINE)
            if found is None or found.group(1) == written:
                break
            written = found.group(1)
            time.sleep(1)


def keep_history(base: str, mac: str, body: Path) -> None:
    """Enough saves of one config for its history to hold a full page of 100 revisions; then
    the 2 s after which a directory's signature is trusted (files.SETTLED_NS), so the figure is
    that of an admin page read again, not of the first read after a write."""
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(101):
            client.put(
                f"/api/configs/{mac}",
                content=body.read_bytes(),
                headers={"Content-Type": "application/json"},
            ).raise_for_status()
    time.sleep(2.1)


def storage_alone(directory: Path, body: Path, flags: list[str]) -> float:
    """CPU ms per save of the filesystem adapter alone, in a process of its own."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir()
    command = [sys.executable, str(HERE / "storage_alone.py"), str(directory), str(body), *flags]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return float(output.strip())


TARGETS = {  # scenario: (ratio to the floor at 200, at 20,000)
    "device fetch": (1.25, 1.25),
    "304 poll": (1.25, 1.25),
    "admin get": (1.5, 1.5),
    "list": (4, 100),
    "health": (1.3, 1.3),
    "metrics": (None, 5),
    "history list": (3, 3),
}


def markdown(reports: list[SizeReport], load: Load) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {platform.node()}; {os.cpu_count()} cores; "
        f"Python {platform.python_version()}; wrk, 1 thread, {load.connections} connections, "
        f"a 1 s warm-up then {load.repeats} runs of {load.seconds:g} s per scenario, the run "
        "with the median CPU per request shown; CPU from /proc/<pid>/stat.",
        "Ratios are to the floor (a bare Quart route on hypercorn) measured in the same run.",
        "",
    ]
    for report in reports:
        floor = report.get("floor (bare Quart)").cpu_ms_per_request
        nginx_fetch = report.get("nginx fetch").cpu_ms_per_request
        fetches = [r for r in report.results if r.scenario == "device fetch"]
        against_nginx = (
            f"; device fetch costs {fetches[0].cpu_ms_per_request / nginx_fetch:.1f}x nginx's CPU"
            if fetches
            else ""
        )
        lines += [
            f"## {report.size} configs",
            "",
            f"Start-up to healthy {report.startup_s:.2f} s; resident memory after the run "
            f"{report.rss_mb:.1f} MB{against_nginx}.",
            "",
            "| scenario | req/s | p50 ms | p99 ms | errors | CPU ms/req | x floor | target |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in report.results:
            target = target_ratio(report, r.scenario)
            if r.scenario in report.storage_ms:
                storage = report.storage_ms[r.scenario]
                target_text = f"<= {target:.2f}x (3x + storage {storage:.2f} ms)"
            else:
                target_text = f"<= {target:g}x" if target else ""
            lines.append(
                f"| {r.scenario} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
                f"{r.cpu_ms_per_request:.3f} | {r.cpu_ms_per_request / floor:.2f} | {target_text} |"
            )
        lines.append("")
    return "\n".join(lines)


def target_ratio(report: SizeReport, scenario: str) -> float | None:
    """The scenario's target as a ratio to this run's floor; None when it has none."""
    floor = report.get("floor (bare Quart)").cpu_ms_per_request
    if scenario in report.storage_ms:
        # "3x the floor plus the fsyncs": the fsyncs and the rest of the storage work,
        # measured without HTTP in the same run.
        return (3 * floor + report.storage_ms[scenario]) / floor
    low, high = TARGETS.get(scenario, (None, None))
    return high if report.size >= 20_000 else low


def verdicts(reports: list[SizeReport]) -> list[str]:
    """One line per scenario with a target: its ratio to the floor, and met or missed."""
    lines = []
    for report in reports:
        floor = report.get("floor (bare Quart)").cpu_ms_per_request
        for r in report.results:
            target = target_ratio(report, r.scenario)
            if target is None:
                continue
            ratio = r.cpu_ms_per_request / floor
            verdict = "met" if ratio <= target and not r.errors else "MISSED"
            errors = f", {r.errors} errors" if r.errors else ""
            lines.append(
                f"{verdict:>6}  {report.size} configs, {r.scenario}: {ratio:.2f}x the floor "
                f"(target <= {target:.2f}x){errors}"
            )
        names = {r.scenario for r in report.results}
        for comparison in COMPARISONS:
            for scenario in comparison.scenarios:
                if scenario not in names or f"{scenario}{comparison.suffix}" not in names:
                    continue
                on = report.get(scenario).cpu_ms_per_request
                off = report.get(f"{scenario}{comparison.suffix}").cpu_ms_per_request
                verdict = "met" if on <= comparison.ratio * off else "MISSED"
                lines.append(
                    f"{verdict:>6}  {report.size} configs, {scenario} with {comparison.feature}: "
                    f"{on / off:.2f}x the CPU without ({on:.3f} against {off:.3f} ms; "
                    f"target <= {comparison.ratio}x)"
                )
        if {"devices", "list"} <= names:
            devices = report.get("devices").cpu_ms_per_request
            listed = report.get("list").cpu_ms_per_request
            verdict = "met" if devices <= DEVICES_TO_LIST_RATIO * listed else "MISSED"
            lines.append(
                f"{verdict:>6}  {report.size} configs, devices: {devices / listed:.2f}x the "
                f"config list's CPU ({devices:.3f} against {listed:.3f} ms; "
                f"target <= {DEVICES_TO_LIST_RATIO}x)"
            )
    return lines


def chart(reports: list[SizeReport], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r.size for r in reports]
    figure, axes = plt.subplots(figsize=(11, 6))
    colours = plt.get_cmap("tab20").colors
    for index, scenario in enumerate([r.scenario for r in reports[0].results]):
        values = [report.get(scenario).cpu_ms_per_request for report in reports]
        # The references (the floors, nginx) dashed, so the service's own lines stand out.
        reference = scenario.startswith(("floor", "nginx"))
        axes.plot(
            sizes,
            values,
            marker="o",
            label=scenario,
            color=colours[(2 * index) % 20 + (index >= 10)],
            linestyle="--" if reference else "-",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("configs in the directory")
    axes.set_ylabel("server CPU ms per request")
    axes.set_title("iot-support: server CPU per request, by scenario and fleet size")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="200,2000,20000")
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(tempfile.gettempdir()) / "iot-support-bench",
        help="where the results go (default: a scratch directory)",
    )
    parser.add_argument(
        "--refresh", action="store_true", help="write to bench/results/, the committed results"
    )
    parser.add_argument("--only", help="comma-separated scenarios (the floors are always run)")
    parser.add_argument(
        "--history-depth",
        type=int,
        default=0,
        help="revisions of every config to put in .history/ first (say 100: a full history)",
    )
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    load = Load(args.seconds, args.connections, args.repeat)
    if not GENERATOR.is_file():
        sys.exit(
            f"bench: the config generator {GENERATOR} is missing; clone next to ../shared "
            "or set BENCH_GENERATOR to its path"
        )
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"bench: {tool} is missing (scripts/bench.sh installs it)")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body_file:
        body_file.write(
            subprocess.run(
                [sys.executable, str(GENERATOR), "--body", "3"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
    body = Path(body_file.name)
    reports = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size} configs", flush=True)
        reports.append(bench_size(size, load, body, only, args.history_depth))
    body.unlink()
    out = HERE / "results" if args.refresh else args.out
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(reports, load)
    verdict = "\n".join(["Verdicts (CPU per request against the targets):", *verdicts(reports)])
    (out / "results.md").write_text(f"{table}\n{verdict}\n")
    (out / "results.json").write_text(
        json.dumps(
            [
                {**r.__dict__, "cpu_ms_per_request": r.cpu_ms_per_request}
                for report in reports
                for r in report.results
            ],
            indent=1,
        )
    )
    chart(reports, out / "cpu_per_request.png")
    print()
    print(table)
    print(verdict)
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
