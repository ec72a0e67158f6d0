"""`python -m bridge_local <command>`: run the bridge on one machine without AWS.

up        start the local stack and keep it running until Ctrl-C
down      stop a running local stack
status    show the running stack's URLs and processes
sign      print the Standard Webhooks headers (or a curl command) for a body
send      sign a webhook body (with the demo secret, or as a demo device cloud signs) and POST it
reset     invoke the detector reset function with a plan, as EventBridge Scheduler does
demo      start the stack, tell the whole story, stop everything (exit 0 when every step behaved)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

# The shared layer's package (iotbridge) is on the functions' path in Lambda; the commands need it too.
_LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared"
if str(_LAYER) not in sys.path:
    sys.path.append(str(_LAYER))

from .stack import DEFAULT_STATE_DIR, ROOT, StackConfig, StackError, read_state  # noqa: E402

EXIT_FAILED = 1
EXIT_USAGE = 2


class _Stop(Exception):
    """SIGTERM, turned into an exception so `finally` blocks stop every process."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _cmd_up(args: argparse.Namespace) -> int:
    from .stack import LocalStack

    config = StackConfig(
        template=args.template,
        api_port=args.port,
        moto_port=args.moto_port,
        iot_port=args.iot_port,
        state_dir=args.state_dir,
        visibility_timeout=args.visibility_timeout,
        max_receive_count=args.max_receive_count,
        fleet_size=args.fleet_size,
    )
    signal.signal(signal.SIGTERM, _raise_stop)
    print("starting the local stack (moto, IoT stand-in, one process per function)...", flush=True)
    stack = LocalStack(config)
    try:
        stack.start()
        print(summary(stack.describe()), flush=True)
        while True:
            time.sleep(1.0)
            dead = stack.dead_processes()
            if dead:
                print(f"stopping: {', '.join(dead)} exited; see {stack.logs_dir}", file=sys.stderr)
                return EXIT_FAILED
    except (KeyboardInterrupt, _Stop):
        print("\nstopping the local stack...", flush=True)
        return 0
    finally:
        stack.stop()
        print("stopped: every process the stack started has exited.", flush=True)


def summary(state: dict[str, Any]) -> str:
    api, connector = state["apiUrl"], state["connectorId"]
    lines = [
        "",
        "The bridge runs locally (no AWS account is used; nothing leaves this machine).",
        "",
        f"  Webhook endpoint   POST {api}/connectors/{{connectorId}}/events",
        f"  Demo connector     {connector}",
        f"  Demo secret        {state['demoSigningSecret']}",
        "                     (public on purpose: local use only, never for a real connector)",
        f"  moto (SQS, DynamoDB, Secrets Manager)   {state['motoUrl']}",
        f"  IoT stand-in (managed integrations, IoT Events Data)   {state['iotUrl']}"
        f"   recorded calls: {state['iotUrl']}/_standin/connector-events",
        f"  Lambda Invoke endpoint   {state['lambdaUrl']}   functions: {', '.join(state['functions'])}",
        f"  Detector fleet     {state['fleet']['size']} of each model: {', '.join(state['fleet']['models'])}",
        f"  Logs               {state['logs']}",
        "",
        "Send a signed webhook:",
        "  python -m bridge_local send events/webhook-device-event.json",
        "  python -m bridge_local sign --secret <demo secret> --body body.json "
        f"--curl {api}/connectors/{connector}/events",
        "Reset detectors:  python -m bridge_local reset --plan events/plans/hvac-alarm-reset.json",
        *(
            f"                  python -m bridge_local reset --schedule {name}   (a schedule of the template)"
            for function in state.get("schedules", {}).values()
            for name in function
        ),
        "Stop:             Ctrl-C (or `python -m bridge_local down` from another shell)",
    ]
    return "\n".join(lines)


def _running(state_dir: Path) -> dict[str, Any]:
    state = read_state(state_dir)
    if state is None:
        raise StackError(
            "no local stack is running; start one with `make local` or `python -m bridge_local up`"
        )
    return state


def _cmd_down(args: argparse.Namespace) -> int:
    from .stack import stop_running_stack

    print(stop_running_stack(args.state_dir))
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    print(summary(_running(args.state_dir)))
    return 0


def _cmd_sign(args: argparse.Namespace) -> int:
    from .signing import curl_command, read_webhook_file, sign_headers

    body, connector = read_webhook_file(args.body)
    headers = sign_headers(args.secret, body, webhook_id=args.id, timestamp=args.timestamp)
    if args.curl:
        # A plain body file is sent as is; an API Gateway event's body is inlined, as that is what was signed.
        from_event = connector is not None or body != args.body.read_bytes()
        print(curl_command(args.curl, headers, body_file=None if from_event else args.body, body=body))
    else:
        for name, value in headers.items():
            print(f"{name}: {value}")
    return 0


def _cmd_send(args: argparse.Namespace) -> int:
    from .demo_clouds import DEMO_CLOUDS
    from .signing import post, read_webhook_file, send_signed

    state = _running(args.state_dir)
    body, event_connector = read_webhook_file(args.file)
    connector = args.connector or event_connector or state["connectorId"]
    cloud = next((c for c in DEMO_CLOUDS if c.connector_id == connector), None)
    if cloud is not None and cloud.connector_id in state.get("profiledConnectors", []):
        # A demo cloud's connector: signed the cloud's own way, as its profile says.
        url = f"{state['apiUrl']}/connectors/{connector}/events"
        reply = post(url, body, cloud.signed(body, secret=args.secret))
    else:
        reply = send_signed(state["apiUrl"], connector, body, args.secret or state["demoSigningSecret"])
    print(f"HTTP {reply.status}")
    print(reply.body.decode("utf-8", errors="replace"))
    if event_connector and event_connector != connector:
        print(f"(sent for connector {connector}, not the file's {event_connector})", file=sys.stderr)
    return 0 if 200 <= reply.status < 300 else EXIT_FAILED


def _cmd_reset(args: argparse.Namespace) -> int:
    from .reset_trigger import invoke_reset

    state = _running(args.state_dir)
    plan: Path | Any = args.plan
    if args.schedule:
        found = {n: i for inputs in state.get("schedules", {}).values() for n, i in inputs.items()}
        if args.schedule not in found:
            raise StackError(
                f"no schedule {args.schedule!r} in the template; known: {', '.join(found) or 'none'}"
            )
        plan = found[args.schedule]
    outcome = invoke_reset(state, plan, function=args.function, asynchronous=args.asynchronous)
    print(outcome.describe())
    return 0 if outcome.ok else EXIT_FAILED


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        return run_demo(state_dir=args.state_dir, plan=args.plan, template=args.template)
    except (KeyboardInterrupt, _Stop):
        print("demo interrupted; every process it started has been stopped.", file=sys.stderr)
        return EXIT_FAILED


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m bridge_local", description=__doc__.split("\n\n")[0])
    root.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="the running stack's ports and pids (local/.state)",
    )
    root.add_argument("--template", type=Path, default=ROOT / "template.yaml", help="the SAM template to run")
    root.add_argument("-v", "--verbose", action="store_true", help="log what the local AWS glue does")
    commands = root.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the local stack and keep it running until Ctrl-C")
    up.add_argument(
        "--port", type=int, default=3000, help="webhook endpoint port (default 3000; 0 = any free)"
    )
    up.add_argument(
        "--visibility-timeout", type=int, default=2, help="event queue visibility timeout, seconds"
    )
    up.add_argument(
        "--max-receive-count", type=int, help="receives before the dead-letter queue (template's)"
    )
    up.add_argument("--fleet-size", type=int, default=200, help="demo detectors in the IoT stand-in")
    up.add_argument(
        "--moto-port",
        type=int,
        default=5100,
        help="moto (SQS, Secrets Manager, DynamoDB) port (0 = any free)",
    )
    up.add_argument("--iot-port", type=int, default=4510, help="IoT stand-in port (0 = any free)")
    up.set_defaults(run=_cmd_up)

    commands.add_parser("down", help="stop a running local stack").set_defaults(run=_cmd_down)
    commands.add_parser("status", help="show the running stack").set_defaults(run=_cmd_status)

    sign = commands.add_parser("sign", help="print Standard Webhooks headers for a body")
    sign.add_argument("--secret", required=True, help="the whsec_... signing secret")
    sign.add_argument("--body", type=Path, required=True, help="JSON body (or an API Gateway event file)")
    sign.add_argument("--id", help="webhook-id (default: a new msg_ id)")
    sign.add_argument("--timestamp", type=int, help="webhook-timestamp, unix seconds (default: now)")
    sign.add_argument("--curl", metavar="URL", help="print a complete curl command for URL instead")
    sign.set_defaults(run=_cmd_sign)

    send = commands.add_parser("send", help="sign with the demo secret and POST to the running stack")
    send.add_argument("file", type=Path, help="JSON body, or an API Gateway event (its body is sent)")
    send.add_argument("--connector", help="connector id (default: the file's, else the demo connector)")
    send.add_argument("--secret", help="signing secret (default: the demo secret)")
    send.set_defaults(run=_cmd_send)

    reset = commands.add_parser("reset", help="invoke the detector reset function with a plan")
    which = reset.add_mutually_exclusive_group(required=True)
    which.add_argument("--plan", type=Path, help="the plan JSON, as a schedule's input")
    which.add_argument("--schedule", help="run the input of this schedule of the template (e.g. AlarmReset)")
    reset.add_argument("--function", help="function name (default: the template's detector reset function)")
    reset.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="invoke asynchronously (InvocationType Event), exactly as EventBridge Scheduler does",
    )
    reset.set_defaults(run=_cmd_reset)

    demo = commands.add_parser(
        "demo", help="the whole story, non-interactive; exit 0 when every step behaved"
    )
    demo.add_argument("--plan", type=Path, help="reset plan for the demo (default: one under events/plans/)")
    demo.set_defaults(run=_cmd_demo)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.command == "demo" and args.state_dir == DEFAULT_STATE_DIR:
        args.state_dir = DEFAULT_STATE_DIR / "demo"  # a demo runs beside a stack started with `up`
    try:
        return int(args.run(args))
    except (StackError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
