"""The carrier-auth state machine, written once: generates ``statemachine/carrier_auth.asl.json``.

template.yaml deploys that JSON (``DefinitionUri`` + ``DefinitionSubstitutions`` for the
``${...}`` placeholders) and the local stack runs it in moto. Edit this file, never the JSON,
then regenerate it:

    .venv/bin/python -m statemachine.definition

Each retry policy is a named constant below and each repeated task shape a function; the states
at the bottom are composed from them. tests/unit/test_asl_definition.py fails when the committed
JSON is not what this file produces. Standard library only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("carrier_auth.asl.json")

# Substituted by template.yaml (DefinitionSubstitutions) and by the local stack. Each Task runs
# its own function: "${LoginFunctionArn}" is template.yaml's LoginFunction, whose code is
# functions/login/app.py and whose entry point is carrier_auth.flow.login.
LAMBDA_INVOKE = "arn:${Partition}:states:::lambda:invoke"
LAMBDA_INVOKE_WAIT = "arn:${Partition}:states:::lambda:invoke.waitForTaskToken"
SQS_SEND_WAIT = "arn:${Partition}:states:::sqs:sendMessage.waitForTaskToken"

# Paths the states hand to their functions.
TASK_ID = "$.task_id"
TASK_TOKEN = "$$.Task.Token"
ENTERED = "$$.State.EnteredTime"  # keys the upstream call: a retry of the same entry never repeats it
OUTCOME = "$.carrier.outcome"

# The error a carrier step raises when the provider is unreachable or busy
# (carrier_auth.errors.ProviderUnavailable): retried, then caught.
PROVIDER_UNAVAILABLE = "ProviderUnavailable"

# ------------------------------------------------------------------------------ retry policies
# Lambda's own transient failures (service errors, throttling): every Lambda task retries them.
LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
    ],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# The provider was unavailable: one try and two retries, then the step's ProviderUnavailable
# Catch (fail over, or answer 90035).
UPSTREAM_BUSY_RETRY = {
    "ErrorEquals": [PROVIDER_UNAVAILABLE],
    "IntervalSeconds": 1,
    "MaxAttempts": 2,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# SQS's transient failures, for the Collect message.
SQS_RETRY = {
    "ErrorEquals": ["SQS.SdkClientException", "SQS.AmazonSQSException"],
    "IntervalSeconds": 1,
    "MaxAttempts": 3,
    "BackoffRate": 2,
    "JitterStrategy": "FULL",
}
# Finish only: any failure of the function is tried again before SystemError.
FINISH_RETRY = {
    "ErrorEquals": ["States.TaskFailed"],
    "IntervalSeconds": 2,
    "MaxAttempts": 3,
    "BackoffRate": 2,
}
RETRY_POLICIES = {
    "LAMBDA_RETRY": LAMBDA_RETRY,
    "UPSTREAM_BUSY_RETRY": UPSTREAM_BUSY_RETRY,
    "SQS_RETRY": SQS_RETRY,
    "FINISH_RETRY": FINISH_RETRY,
}


# ------------------------------------------------------------------------------ catches
def catch(errors: list[str], next_state: str) -> dict[str, Any]:
    """On these errors keep the error at $.error and go to next_state."""
    return {"ErrorEquals": errors, "ResultPath": "$.error", "Next": next_state}


TO_SYSTEM_ERROR = catch(["States.ALL"], "SystemError")
TO_INPUT_TIMED_OUT = catch(["States.Timeout", "States.HeartbeatTimeout"], "InputTimedOut")


# ------------------------------------------------------------------------------ task shapes
def _paths(fields: dict[str, str]) -> dict[str, str]:
    """Payload fields read from the state's input or context: {"entered": p} -> {"entered.$": p}."""
    return {f"{name}.$": path for name, path in fields.items()}


def _invoke(function: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Lambda Invoke Parameters for the template's function ``function`` (a logical id)."""
    return {"FunctionName": "${" + function + "Arn}", "Payload": payload}


def carrier_step(comment: str, function: str, *, on_unavailable: str | None = None, **fields: str) -> dict[str, Any]:
    """A carrier step that may wait for the app: the function gets the task token and completes
    the task itself, or parks the token on the session until the app's input resumes it. Its
    answer lands at $.carrier and Route decides what follows.

    on_unavailable: where ProviderUnavailable leads once UPSTREAM_BUSY_RETRY gives up; None for
    a step that does not call the provider (no such retry, no such Catch)."""
    retry = [LAMBDA_RETRY]
    catches = [TO_INPUT_TIMED_OUT, TO_SYSTEM_ERROR]
    if on_unavailable:
        retry.append(UPSTREAM_BUSY_RETRY)
        catches.insert(0, catch([PROVIDER_UNAVAILABLE], on_unavailable))
    return {
        "Type": "Task",
        "Comment": comment,
        "Resource": LAMBDA_INVOKE_WAIT,
        "Parameters": _invoke(function, {**_paths(fields), "task_id.$": TASK_ID, "task_token.$": TASK_TOKEN}),
        "HeartbeatSecondsPath": "$.settings.input_timeout",
        "TimeoutSecondsPath": "$.settings.wait_timeout",
        "ResultPath": "$.carrier",
        "Retry": retry,
        "Catch": catches,
        "Next": "Route",
    }


def lambda_step(
    comment: str,
    function: str,
    *,
    next_state: str | None,
    result_path: str | None = None,
    result_selector: dict[str, str] | None = None,
    retry: tuple[dict[str, Any], ...] = (LAMBDA_RETRY,),
    catches: tuple[dict[str, Any], ...] = (TO_SYSTEM_ERROR,),
    **fields: str,
) -> dict[str, Any]:
    """A plain (request-response) call of ``function``. next_state None: the last state.
    result_path None: the function's answer is dropped."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Comment": comment,
        "Resource": LAMBDA_INVOKE,
        "Parameters": _invoke(function, {"task_id.$": TASK_ID, **_paths(fields)}),
    }
    if result_selector:
        state["ResultSelector"] = result_selector
    state["ResultPath"] = result_path
    state["Retry"] = list(retry)
    if catches:
        state["Catch"] = list(catches)
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def route(comment: str | None, outcomes: dict[str, str]) -> dict[str, Any]:
    """A Choice on $.carrier.outcome; an outcome it does not know goes to Unroutable."""
    state: dict[str, Any] = {"Type": "Choice"}
    if comment:
        state["Comment"] = comment
    state["Choices"] = [{"Variable": OUTCOME, "StringEquals": value, "Next": to} for value, to in outcomes.items()]
    state["Default"] = "Unroutable"
    return state


# ------------------------------------------------------------------------------ the states
def definition() -> dict[str, Any]:
    return {
        "Comment": "Carrier authentication (运营商认证): identity pre-check and login, SMS / captcha input"
        " via task tokens, collection polled outside the machine (SQS), result event. No state here"
        " carries a plaintext secret.",
        "StartAt": "Begin",
        "States": {
            "Begin": carrier_step(
                "identity pre-check by the deployment's policy, then login. The step completes its own task"
                " unless the provider asks for input: then it parks the token on the session and the app's"
                " code or resend request resumes it ($.carrier = {outcome: INPUT, input}). entered keys the"
                " upstream call: a retry of this entry never repeats it",
                "LoginFunction",
                entered=ENTERED,
                on_unavailable="Failover",
            ),
            "Route": route(
                "where the last carrier step (or the app's input) leads",
                {"INPUT": "CarrierInput", "COLLECTING": "Collect", "FAILED": "Ended", "WORKING": "CheckWait"},
            ),
            "CarrierInput": carrier_step(
                "the app's SMS / captcha code or resend request, sent upstream once per entry; waits again"
                " when the provider asks for more input",
                "SendInputFunction",
                entered=ENTERED,
                input="$.carrier.input",
                on_unavailable="UpstreamBusy",
            ),
            # answers without calling the provider: no ProviderUnavailable retry or Catch
            "UpstreamBusy": carrier_step(
                "the provider stayed unavailable for the input: answer 90035 and wait for the app to try again",
                "AnswerBusyFunction",
            ),
            "CheckWait": {
                "Type": "Wait",
                "Comment": "an asynchronous provider (Moxie) is still logging in",
                "SecondsPath": "$.settings.check_interval",
                "Next": "CarrierCheck",
            },
            "CarrierCheck": carrier_step(
                "where the asynchronous login stands",
                "CheckLoginFunction",
                on_unavailable="Failover",
            ),
            "Failover": lambda_step(
                "the provider stayed unavailable at login: hand the task to the next provider of the chain,"
                " or answer 90035",
                "FailoverFunction",
                result_selector={"outcome.$": "$.Payload.outcome"},
                result_path="$.carrier",
                next_state="FailoverRoute",
            ),
            # RETRY: Begin again with the next provider; FAILED: the chain is exhausted (90035 answered)
            "FailoverRoute": route(None, {"RETRY": "Begin", "FAILED": "Ended"}),
            # the one SQS task: the message carries only the task id and the token
            "Collect": {
                "Type": "Task",
                "Comment": "105 was answered: the collect function polls the provider every poll_interval (SQS"
                " message visibility) outside the state machine and completes this task with SUCCESS or DEFEAT;"
                " it gives up after MaxCollectPolls. The timeout is the backstop should the polls stop",
                "Resource": SQS_SEND_WAIT,
                "Parameters": {
                    "QueueUrl": "${CollectQueueUrl}",
                    "MessageBody": {"task_id.$": TASK_ID, "task_token.$": TASK_TOKEN},
                    "DelaySeconds.$": "$.settings.poll_interval",
                },
                "TimeoutSecondsPath": "$.settings.collect_timeout",
                "ResultPath": "$.carrier",
                "Retry": [SQS_RETRY],
                "Catch": [catch(["States.Timeout"], "CollectTimedOut"), TO_SYSTEM_ERROR],
                "Next": "Finish",
            },
            "CollectTimedOut": {
                "Type": "Pass",
                "Comment": "no poll answered within the collection deadline: DEFEAT",
                "Result": {"outcome": "DEFEAT"},
                "ResultPath": "$.carrier",
                "Next": "Finish",
            },
            "Finish": lambda_step(
                "mark SUCCESS / DEFEAT and publish CarrierAuthFinished (EventBridge -> SQS -> callback)",
                "PublishResultFunction",
                result=OUTCOME,
                retry=(LAMBDA_RETRY, FINISH_RETRY),
                next_state=None,
            ),
            "InputTimedOut": lambda_step(
                "no input within InputTimeoutSeconds: answer 90032",
                "InputTimeoutFunction",
                next_state="Ended",
            ),
            "Ended": {
                "Type": "Succeed",
                "Comment": "the answer is on the session (no callback before 105)",
            },
            "Unroutable": {
                "Type": "Pass",
                "Comment": "an outcome no Choice knows: record it and end as a system error",
                "Result": {"Error": "Unroutable", "Cause": "unexpected step outcome"},
                "ResultPath": "$.error",
                "Next": "SystemError",
            },
            # the last resort: no Catch, a failure here fails the execution
            "SystemError": lambda_step(
                "answer 103, or DEFEAT by callback if 105 was already answered",
                "SystemErrorFunction",
                error="$.error",
                catches=(),
                next_state="Failed",
            ),
            "Failed": {
                "Type": "Fail",
                "Error": "CarrierAuthFailed",
                "Cause": "a step failed; see the execution history and the session item",
            },
        },
    }


def render() -> str:
    """The definition as committed: two-space indent, UTF-8 as is, a final newline."""
    return json.dumps(definition(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUTPUT.write_text(render(), encoding="utf-8", newline="\n")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
