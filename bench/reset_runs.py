"""The detector reset job against the IoT stand-in: throughput under latency and a rate cap, and memory.

The child process runs the job's real code path (iotbridge.detector_reset.wiring: the botocore iotevents-data
client from the one client factory, the real adapter, JobOptions from the settings the template sets)
against the stand-in over HTTP. The stand-in runs in its own process, so its memory is not counted.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

from bench.child import run_child
from bench.layout import DETECTOR_RESET, ROOT, lambda_environment
from bench.measure import timed
from bench.memory import peak_rss_mb, rss_mb
from bench.report import Section, markdown_table
from bench.sizing import Findings, ResetCpu
from bench.stats import Figure, Goal, peak_rss_figure
from iotbridge.clients import SERVICE_MODELS_DIR
from iotbridge.detector_reset.domain.plan import parse_plan
from iotbridge.detector_reset.wiring import ResetWiring

MODEL = "BenchPump"
LATENCY_MS = 20
THROUGHPUT_GOAL = Goal(">=", 0.8)
CAPPED_GOAL = Goal(">=", 0.9)
SEQUENTIAL_GOAL = Goal(">=", 3.5)
MEMORY_GOAL = Goal("<=", 1.1)
BASELINES = ROOT / "bench" / "baselines"
PLAN = {
    "name": "bench-reset",
    "detectorModelName": MODEL,
    "detectors": {"all": True},
    "action": {"mode": "update", "stateName": "Normal", "variables": [{"name": "alarmCount", "value": "0"}]},
}


# --- child side --------------------------------------------------------------------------------------


def measure(args: dict[str, Any]) -> dict[str, Any]:
    plan = parse_plan(PLAN)
    wiring = ResetWiring.from_environment()  # creates the client, as the handler's init does
    job = wiring.cli_job()
    before = rss_mb()
    report, elapsed, cpu = timed(lambda: job.run(plan))
    cfg = wiring.settings
    return {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "status": report.status,
        "matched": report.totals.matched,
        "reset": report.totals.reset,
        "failed": report.totals.failed,
        "workers": cfg.workers,
        "batch_size": cfg.batch_size,
        "rss_before_run_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }


def measure_sequential(args: dict[str, Any]) -> dict[str, Any]:
    """Child: the loop of AWS's documentation (bench/baselines/sequential_reset.py) over the same fleet."""
    # The baseline program is on the child's import path only.
    baseline = importlib.import_module("sequential_reset")
    action = PLAN["action"]
    assert isinstance(action, dict)
    reset, elapsed, cpu = timed(
        lambda: baseline.reset_all(
            MODEL, action["stateName"], action["variables"], endpoint_url=args["standin_url"]
        )
    )
    return {"seconds": elapsed, "cpu_seconds": cpu, "reset": reset}


# --- parent side ---------------------------------------------------------------------------------------


def _run_job(standin_url: str, **settings: str) -> dict[str, Any]:
    env = {**lambda_environment(DETECTOR_RESET, endpoint=standin_url), "POWERTOOLS_TRACE_DISABLED": "true"}
    env.update(settings)
    return run_child("bench.reset_runs:measure", {}, code_root=DETECTOR_RESET.code_root, env=env)


def _calls(stats: dict[str, Any], operation: str) -> dict[str, int]:
    return dict(stats.get("operations", {}).get(operation, {}).get("calls", {}))


def _fleet(count: int) -> dict[str, Any]:
    # Here, not at the top: the job's child imports this module, and its peak memory is a figure.
    from iot_standin.fleet import fleet_seed

    # Every detector starts in Alarm; the model also declares Normal, the state the plan resets to.
    return fleet_seed(MODEL, count, ["Alarm"], reset_input="BenchReset", reset_state="Normal")


def _run_sequential(standin_url: str) -> dict[str, Any]:
    env = {
        **lambda_environment(DETECTOR_RESET, endpoint=standin_url),
        "AWS_DATA_PATH": str(SERVICE_MODELS_DIR),
    }
    return run_child(
        "bench.reset_runs:measure_sequential", {"standin_url": standin_url}, code_root=BASELINES, env=env
    )


def run_throughput(*, smoke: bool, findings: Findings) -> Section:
    # Here, not at the top: the job's child imports this module, and its peak memory is a figure.
    from iot_standin.testing import running_standin

    section = Section(f"Reset throughput: {LATENCY_MS} ms per call")
    count = 500 if smoke else 10_000
    rows = []
    latency = {"*": {"latencyMs": LATENCY_MS}}
    with running_standin(seed=_fleet(count), faults=latency) as standin:
        free = _run_job(standin.url)
        rows.append(_row("no cap", free, _calls(standin.stats(), "BatchUpdateDetector")))
        workers, batch_size = free["workers"], free["batch_size"]
        bound = workers * batch_size / (LATENCY_MS / 1000)
        section.figures.append(
            Figure(
                f"reset, {count:,} detectors, no cap",
                free["reset"] / free["seconds"],
                bound,
                "detectors/s",
                THROUGHPUT_GOAL,
                baseline_name=f"{workers} workers x {batch_size} / {LATENCY_MS} ms",
                note=_failures(free),
            )
        )

        # The same fleet, the same latency, the loop a user would write from AWS's documentation.
        standin.reset()
        sequential = _run_sequential(standin.url)
        sequential_calls = _calls(standin.stats(), "BatchUpdateDetector")
        rows.append(_row("sequential loop (bench/baselines)", {**sequential, "failed": {}}, sequential_calls))
        section.figures.append(
            Figure(
                f"reset, {count:,} detectors, vs the sequential loop",
                free["reset"] / free["seconds"],
                sequential["reset"] / sequential["seconds"],
                "detectors/s",
                SEQUENTIAL_GOAL,
                baseline_name="list, then BatchUpdateDetector batch after batch",
                note=f"the loop reset {sequential['reset']:,} in {sequential['seconds']:.1f} s",
            )
        )

        # A cap well under what the workers could send, so the job must live with throttling.
        cap = max(5, int(workers / (LATENCY_MS / 1000) / 2))
        standin.reset()
        standin.set_faults({**latency, "BatchUpdateDetector": {"maxRps": cap}})
        capped = _run_job(standin.url)
        rows.append(_row(f"maxRps {cap}", capped, _calls(standin.stats(), "BatchUpdateDetector")))
        section.figures.append(
            Figure(
                f"reset, {count:,} detectors, capped at {cap} calls/s",
                capped["reset"] / capped["seconds"],
                cap * batch_size,
                "detectors/s",
                CAPPED_GOAL,
                baseline_name=f"{cap} calls/s x {batch_size}",
                note=_failures(capped),
            )
        )
        if capped["failed"] or capped["reset"] != count:
            section.error = f"the capped run did not reset every detector: {_failures(capped)}"

        # No injected latency: what a call costs on this machine, client and stand-in sharing its cores.
        standin.reset()
        standin.set_faults({})
        ceiling = _run_job(standin.url)
        rows.append(_row("no latency", ceiling, _calls(standin.stats(), "BatchUpdateDetector")))
    calls_per_second = ceiling["reset"] / batch_size / ceiling["seconds"]
    overhead_ms = workers / calls_per_second * 1000
    corrected = workers * batch_size / ((LATENCY_MS + overhead_ms) / 1000)
    section.figures.append(
        Figure(
            f"reset, {count:,} detectors, no cap, vs this machine's bound",
            free["reset"] / free["seconds"],
            corrected,
            "detectors/s",
            baseline_name=f"{workers} x {batch_size} / ({LATENCY_MS} + {overhead_ms:.1f} ms)",
            note="information: the bound with the time a call takes here without injected latency added",
        )
    )
    cpu_ms_per_call = free["cpu_seconds"] * 1000 / max(1, free["reset"] / batch_size)
    findings.reset = ResetCpu(cpu_ms_per_call, workers / (LATENCY_MS / 1000))
    section.details.append(
        "The bound is what the configuration allows: every worker always has a batch in flight and each call "
        f"takes exactly the injected {LATENCY_MS} ms. The capped bound is the cap times the batch size; the "
        "stand-in's token bucket starts full (one second's worth), so a run can edge above it. With no "
        f"injected latency a call still takes {overhead_ms:.1f} ms here ({calls_per_second:.0f} calls/s with "
        f"{workers} workers): botocore and the stand-in share this machine's cores. The job's own CPU is "
        f"{cpu_ms_per_call:.1f} ms per call of {batch_size} detectors, listing included: at its configured "
        f"pace ({workers / (LATENCY_MS / 1000):.0f} calls/s) that needs "
        f"{findings.reset.vcpu_needed():.2f} vCPU.\n\n"
        + markdown_table(
            ["run", "detectors reset", "failed", "seconds", "BatchUpdateDetector calls (outcome: n)"], rows
        )
    )
    return section


def _failures(result: dict[str, Any]) -> str:
    failed = sum(result["failed"].values())
    return f"{result['reset']:,} reset, {failed} failed" + (f" {result['failed']}" if failed else "")


def _row(label: str, result: dict[str, Any], calls: dict[str, int]) -> list[str]:
    return [
        label,
        f"{result['reset']:,}",
        str(sum(result["failed"].values())),
        f"{result['seconds']:.2f}",
        ", ".join(f"{k}: {v:,}" for k, v in sorted(calls.items())),
    ]


def run_memory(*, smoke: bool, findings: Findings) -> Section:
    """The section, and the larger run's peak RSS."""
    # Here, not at the top: the job's child imports this module, and its peak memory is a figure.
    from iot_standin.testing import running_standin

    section = Section("Reset job: peak memory")
    small, large = (200, 2_000) if smoke else (1_000, 100_000)
    workers = "8"
    results = {}
    for count in (small, large):
        started = time.perf_counter()
        with running_standin(seed=_fleet(count)) as standin:
            results[count] = _run_job(standin.url, RESET_WORKERS=workers)
        results[count]["total_seconds"] = time.perf_counter() - started
    section.figures.append(
        peak_rss_figure("reset", {count: r["peak_rss_mb"] for count, r in results.items()}, MEMORY_GOAL)
    )
    rows = [
        [
            f"{count:,}",
            f"{r['reset']:,}",
            str(sum(r["failed"].values())),
            f"{r['seconds']:.1f}",
            f"{r['total_seconds']:.1f}",
            f"{r['rss_before_run_mb']:.1f}",
            f"{r['peak_rss_mb']:.1f}",
        ]
        for count, r in results.items()
    ]
    section.details.append(
        f"Latency 0, {workers} workers, batches of {results[large]['batch_size']}; peak RSS is VmHWM of "
        "the child process that runs the job (imports, client, the run), the stand-in's memory not "
        "counted.\n\n"
        + markdown_table(
            [
                "detectors",
                "reset",
                "failed",
                "job s",
                "with stand-in start s",
                "RSS before run MiB",
                "peak RSS MiB",
            ],
            rows,
        )
    )
    findings.add_peak(DETECTOR_RESET.folder, float(results[large]["peak_rss_mb"]))
    return section
