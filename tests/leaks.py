"""The plaintext-secret scan both stack suites end with (integration, browser)."""

from __future__ import annotations

import re


def pattern(secret: str) -> re.Pattern:
    # codes are short (123456, ab12): do not match them inside hex ids, uuids (task tokens),
    # base64 ciphertexts or timestamps
    if len(secret) < 10:
        return re.compile(rf"(?<![0-9A-Za-z+/-]){re.escape(secret)}(?![0-9A-Za-z+/=-])")
    return re.compile(re.escape(secret))


def leaks(text: str, secrets: set[str]) -> list[str]:
    """The secrets that appear in ``text``."""
    return sorted(s for s in secrets if pattern(s).search(text))


def stack_sources(stack, log_capture, queues: dict[str, str] | None = None) -> dict[str, str]:  # noqa: ANN001
    """Everything an embedded stack stored, sent or printed, by where: every table, every
    execution (description and history), the given queues' visible messages, its output."""
    import json

    sources: dict[str, str] = {"everything the stack printed": log_capture.getvalue()}
    for logical in stack.tables:
        items = stack.table(logical).scan()["Items"]
        sources[f"table {logical}"] = json.dumps(items, default=str, ensure_ascii=False)
    sfn = stack.client("stepfunctions")
    for e in sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=1000)["executions"]:
        desc = sfn.describe_execution(executionArn=e["executionArn"])
        history = sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"]
        sources[f"execution {e['name']}"] = json.dumps([desc, history], default=str, ensure_ascii=False)
    sqs = stack.client("sqs")
    for name, url in (queues or {}).items():
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        sources[f"queue {name}"] = json.dumps(messages, ensure_ascii=False)
    return sources


def found_in(sources: dict[str, str], secrets: set[str]) -> dict[str, list[str]]:
    """Where each leaked secret was found (empty: nothing leaked)."""
    return {where: found for where, text in sources.items() if (found := leaks(text, secrets))}
