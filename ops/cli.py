"""``python -m ops COMMAND [options]``: the on-call tools' command line (see ops/__init__.py and
docs/operations.md#on-call-tools)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from . import OpsError, UsageError, callbacks, funnel, resources, tasks

DESCRIPTION = """On-call tools for the Carrier Auth Gateway.

Against the embedded stack by default (--local: `make run`'s moto at CARRIER_AUTH_MOTO_URL or
http://127.0.0.1:5000), or against a deployed stack with --stack NAME (the usual AWS credentials
and region; --profile / --region). Exit codes: 0 done, 1 not found or nothing to do, 2 usage."""


def _parser() -> argparse.ArgumentParser:
    def target_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
        default = {"default": argparse.SUPPRESS} if suppress else {}
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--local", action="store_true", help="the embedded stack (the default)", **default)
        where.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack", **default)
        parser.add_argument("--region", help="the deployed stack's region (else AWS_REGION / the profile's)", **default)
        parser.add_argument("--profile", help="the AWS profile for --stack", **default)
        parser.add_argument("--moto-url", metavar="URL", help="the embedded stack's moto (CARRIER_AUTH_MOTO_URL)",
                            **default)
        parser.add_argument("--json", action="store_true", help="machine-readable output", **default)

    root = argparse.ArgumentParser(prog="python -m ops", description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    target_options(root, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    target_options(common, suppress=True)
    commands = root.add_subparsers(dest="command", metavar="COMMAND", required=True)

    show = commands.add_parser(
        "show", parents=[common], help="a task: session, execution history, callback",
        description="A task's session as stored (no ciphertext, hash or token), its execution's status and "
                    "history (states entered and exited, failures by error name; no payloads) and its callback: "
                    "status, HTTP answer, publication, redelivery, and whether the callback queues hold it.")
    show.add_argument("task_id", metavar="TASK_ID")

    stuck = commands.add_parser(
        "stuck", parents=[common], help="tasks that failed or stopped moving",
        description="Tasks updated in the last --hours that ended FAILED / TIMED_OUT / ERROR, that are not final "
                    "and made no progress for --stale-minutes, or whose callback is still undelivered after as "
                    "long; plus executions that failed, timed out or were aborted in the window. Reads the "
                    "sessions table with a paginated scan (fine at on-call volumes, not for a dashboard). "
                    "Exit code 1 when there is none.")
    stuck.add_argument("--hours", type=float, default=6, help="tasks updated in the last N hours (6)")
    stuck.add_argument("--stale-minutes", type=float, default=30, metavar="M",
                       help="a non-final task without progress for M minutes is stuck (30)")

    redrive = commands.add_parser(
        "redrive-callbacks", parents=[common], help="move the callback dead-letter queue back to the callback queue",
        description="Moves the callback dead-letter queue's messages back to the callback queue (an SQS message "
                    "move task in AWS; receive / send / delete on the embedded stack), where the callback "
                    "function delivers them again with their event ids. Exit code 1 when the DLQ is empty.")
    redrive.add_argument("--dry-run", action="store_true", help="say what would be moved, move nothing")

    abort = commands.add_parser(
        "abort", parents=[common], help="stop a task's execution and end its session",
        description="Ends a task that is not final - ERROR with the 103 answer, or DEFEAT with its callback once "
                    "105 was answered, with the flow's own conditional writes - and stops its execution (error "
                    "OperatorAborted, cause --reason). Exit code 1 when both are over already.")
    abort.add_argument("task_id", metavar="TASK_ID")
    abort.add_argument("--reason", default=None, help="the stop cause recorded on the execution and the session")

    show_funnel = commands.add_parser(
        "funnel", parents=[common], help="the embedded stack's funnel (local only)",
        description="The dashboard's funnel, rates by carrier and province, guide codes and upstream calls, "
                    "from the EMF metrics the embedded stack's functions printed (GET /_local/funnel).")
    show_funnel.add_argument("--api-url", metavar="URL", help="the local API (CARRIER_AUTH_API_URL, :3000)")
    return root


def _resources(args: argparse.Namespace) -> resources.Resources:
    if args.stack:
        if args.moto_url:
            raise UsageError("--moto-url is for the embedded stack, not with --stack")
        return resources.deployed(args.stack, region=args.region, profile=args.profile)
    if args.region or args.profile:
        raise UsageError("--region and --profile go with --stack NAME")
    return resources.local(args.moto_url)


# ---------------------------------------------------------------- text output
def _lines(pairs: list[tuple[str, Any]], indent: str = "  ") -> list[str]:
    width = max((len(k) for k, _ in pairs), default=0)
    return [f"{indent}{k:<{width}}  {'-' if v in (None, '') else v}" for k, v in pairs]


def _value(key: str, value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if key.endswith("_at") and isinstance(value, (int, float)):
        return f"{value}  ({tasks.iso(value)})"
    return value


def _queue(state: dict[str, Any]) -> str:
    holds = {True: "HOLDS a message for this task", False: "no message for this task"}.get(state["holds_task"])
    counts = f"{state['visible']} visible, {state['in_flight']} in flight"
    return f"{state['queue']}: {counts}; {holds or state.get('note', 'not checked')}"


def render_show(report: dict[str, Any]) -> str:
    out = [f"task {report['task_id']}  [{report['where']}]", "",
           "session (as stored; ciphertexts, hashes and tokens left out)"]
    session = report["session"]
    out += _lines([(k, _value(k, v)) for k, v in sorted(session.items())]) if session else ["  none"]
    out.append("")
    execution = report["execution"]
    if execution is None:
        out.append("execution: none")
    else:
        out.append(f"execution {execution['status']}  started {execution['started']}"
                   f"  stopped {execution['stopped'] or '-'}"
                   + (f"  error {execution['error']}" if execution.get("error") else ""))
        out.append(f"  {execution['arn']}")
        history = execution["history"]
        out.append(f"  states ({history['events']} history events)")
        for s in history["states"]:
            out.append(f"    {s['entered'] or '?':<24}  {s['state']:<16}  exited {s['exited'] or '(still in it)'}")
        if history["failures"]:
            out.append("  failures")
            for f in history["failures"]:
                out.append(f"    {f['at']:<24}  {f['event']:<22}  {f['error'] or '-'}  in {f['state'] or '-'}")
    out.append("")
    cb = report["callback"]
    out.append("callback")
    out += _lines([
        ("status", cb["status"] and f"{cb['status']} (HTTP {cb['http_status'] or '-'})"),
        ("published at", cb["published_at"]),
        ("redelivered at", cb["redelivered_at"]),
        ("event id", cb["event_id"]),
        ("callback queue", _queue(cb["queue"])),
        ("dead-letter queue", _queue(cb["dead_letter_queue"])),
    ])
    return "\n".join(out)


def render_stuck(rows: list[dict[str, Any]], hours: float, stale: float) -> str:
    head = (f"{len(rows)} task(s) to look at (updated in the last {hours:g} h; "
            f"non-final without progress for {stale:g} min)")
    if not rows:
        return head
    return head + "\n" + funnel.table(
        ["TASK_ID", "STATUS", "EXECUTION", "UPDATED", "AGE", "REASON"],
        [[r["task_id"], r["status"], r["execution"], r["updated_at"], tasks.duration(r["age_seconds"]),
          "; ".join(r["reasons"])] for r in rows],
        align="llllrl",
    )


def render_abort(report: dict[str, Any]) -> str:
    return "\n".join([f"task {report['task_id']}  [{report['where']}]"]
                     + [f"  {action}" for action in report["actions"]]
                     + [f"  now: session {report['session_after'] or '-'}, "
                        f"execution {report['execution_after'] or '-'}"])


def render_redrive(report: dict[str, Any]) -> str:
    if report["dry_run"]:
        return (f"would move about {report['messages']} message(s) from {report['from']} to {report['to']} "
                f"[{report['where']}]; nothing moved")
    text = f"moved {report['moved']} message(s) from {report['from']} to {report['to']} by {report['method']}"
    if report.get("status") and report["status"] != "COMPLETED":
        text += f" (move task {report['status']}: {report.get('failure', 'still running, see the SQS console')})"
    if report.get("failed"):
        text += f"\n  {len(report['failed'])} not sent (left in the DLQ): {report['failed'][0]}"
    if report.get("note"):
        text += f"\n  {report['note']}"
    return text


# ---------------------------------------------------------------- main
def run(args: argparse.Namespace) -> tuple[Any, str]:
    """The command's result and its text form."""
    if args.command == "funnel":
        if args.stack:
            raise UsageError("funnel is local only (the embedded stack); for a deployed stack open its "
                             "CloudWatch dashboard")
        report = funnel.fetch(args.api_url)
        return report, funnel.render(report)
    if args.command in ("show", "abort"):
        resources.check_task_id(args.task_id)
    res = _resources(args)
    if args.command == "show":
        report = tasks.show(res, args.task_id)
        return report, render_show(report)
    if args.command == "stuck":
        if args.hours <= 0 or args.stale_minutes < 0:
            raise UsageError("--hours must be above 0 and --stale-minutes at least 0")
        rows = tasks.stuck(res, hours=args.hours, stale_minutes=args.stale_minutes)
        return rows, render_stuck(rows, args.hours, args.stale_minutes)
    if args.command == "abort":
        report = tasks.abort(res, args.task_id, args.reason)
        return report, render_abort(report)
    report = callbacks.redrive(res, dry_run=args.dry_run)
    return report, render_redrive(report)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # a usage error exits 2 here
    try:
        result, text = run(args)
    except OpsError as exc:
        print(f"ops {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except NoCredentialsError:
        print(f"ops {args.command}: no AWS credentials: configure a profile (--profile) or the AWS_* variables",
              file=sys.stderr)
        return 1
    except NoRegionError:
        print(f"ops {args.command}: no AWS region: pass --region or set AWS_REGION", file=sys.stderr)
        return 2
    except ClientError as exc:
        error = exc.response.get("Error", {})
        denied = "AccessDenied" in str(error.get("Code"))
        hint = " (the IAM actions the tools need: docs/operations.md#on-call-tools)" if denied else ""
        print(f"ops {args.command}: AWS refused {exc.operation_name}: {error.get('Code')}: "
              f"{error.get('Message')}{hint}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:  # the endpoint unreachable, a bad profile, ...
        print(f"ops {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ops {args.command}: interrupted", file=sys.stderr)
        return 130
    if args.command == "stuck" and not result:
        print(text if not args.json else "[]")
        return 1  # nothing to do
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str) if args.json else text)
    return 0
