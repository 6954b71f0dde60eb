"""template.yaml: lint-clean, partition-safe, least privilege, logs kept, API key everywhere.

The template is read with cfn-lint's own decoder so the short intrinsic tags (!Ref, !Sub,
!GetAtt, ...) parse. These tests pin the deployment contract other code relies on: the
local stack, the handlers' environment, and the IAM grants each handler needs.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode

ROOT = Path(__file__).parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
ASL = ROOT / "statemachine" / "carrier_auth.asl.json"

# Actions that the Service Authorization Reference lists with no resource types, so IAM only
# accepts Resource "*" for them.
WILDCARD_ONLY_ACTIONS = {
    # Step Functions "IAM policies for logging to CloudWatch Logs" (log delivery setup)
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
    # X-Ray trace upload
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # task-token APIs: keyed by an opaque token, not by an ARN
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
}

# Policy templates that scope themselves to one named resource.
NARROW_POLICY_TEMPLATES = {"LambdaInvokePolicy", "SQSSendMessagePolicy"}

# What each handler calls, by logical id: a new AWS call needs a conscious change here.
EXPECTED_GRANTS: dict[str, set[tuple[str, str]]] = {
    "StartFunction": {
        ("dynamodb:PutItem", "SessionsTable"),
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("states:StartExecution", "CarrierAuthStateMachine"),
        ("kms:Encrypt", "DataKey"),
        ("secretsmanager:GetSecretValue", "PiiHashKeySecret"),
        ("secretsmanager:GetSecretValue", "TenantSecretPrefix"),
    },
    "SubmitCodeFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("dynamodb:GetItem", "IdempotencyTable"),
        ("dynamodb:PutItem", "IdempotencyTable"),
        ("dynamodb:UpdateItem", "IdempotencyTable"),
        ("dynamodb:DeleteItem", "IdempotencyTable"),
        ("states:SendTaskSuccess", "*"),
        ("kms:Encrypt", "DataKey"),
        ("secretsmanager:GetSecretValue", "PiiHashKeySecret"),
    },
    "StatusFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
    },
    "RedeliverCallbackFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("events:PutEvents", "EventBus"),
    },
    "OpenApiFunction": set(),
    "LoginFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("kms:Decrypt", "DataKey"),
        ("dynamodb:GetItem", "IdentityCacheTable"),
        ("dynamodb:PutItem", "IdentityCacheTable"),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskHeartbeat", "*"),
        ("secretsmanager:GetSecretValue", "JuxinliSecretName"),
        ("secretsmanager:GetSecretValue", "MoxieSecretName"),
        ("secretsmanager:GetSecretValue", "ThreeFactorSecretName"),
        ("secretsmanager:GetSecretValue", "YuxinSecretName"),
        ("secretsmanager:GetSecretValue", "PiiHashKeySecret"),
    },
    "SendInputFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("kms:Decrypt", "DataKey"),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskHeartbeat", "*"),
        ("secretsmanager:GetSecretValue", "JuxinliSecretName"),
        ("secretsmanager:GetSecretValue", "MoxieSecretName"),
    },
    "CheckLoginFunction": {  # only an asynchronous provider (Moxie) is ever checked
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskHeartbeat", "*"),
        ("secretsmanager:GetSecretValue", "MoxieSecretName"),
    },
    # no upstream call: the conditional checkpoint and the heartbeat of the parked token
    "AnswerBusyFunction": {
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("states:SendTaskHeartbeat", "*"),
    },
    "FailoverFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
    },
    "PublishResultFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("events:PutEvents", "EventBus"),
    },
    "InputTimeoutFunction": {
        ("dynamodb:UpdateItem", "SessionsTable"),
    },
    "SystemErrorFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("events:PutEvents", "EventBus"),
    },
    "CollectFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskFailure", "*"),
        ("sqs:ChangeMessageVisibility", "CollectQueue"),
        ("secretsmanager:GetSecretValue", "JuxinliSecretName"),
        ("secretsmanager:GetSecretValue", "MoxieSecretName"),
    },
    "ThreeFactorFunction": {
        ("dynamodb:GetItem", "IdentityCacheTable"),
        ("dynamodb:PutItem", "IdentityCacheTable"),
        ("secretsmanager:GetSecretValue", "ThreeFactorSecretName"),
        ("secretsmanager:GetSecretValue", "PiiHashKeySecret"),
    },
    "RealnameFunction": {
        ("dynamodb:GetItem", "IdentityCacheTable"),
        ("dynamodb:PutItem", "IdentityCacheTable"),
        ("secretsmanager:GetSecretValue", "YuxinSecretName"),
        ("secretsmanager:GetSecretValue", "PiiHashKeySecret"),
    },
    "CallbackFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("kms:Decrypt", "DataKey"),
        ("secretsmanager:GetSecretValue", "TenantSecretPrefix"),
        ("sqs:ChangeMessageVisibility", "CallbackQueue"),
    },
    "ReconcileFunction": {
        ("dynamodb:GetItem", "SessionsTable"),
        ("dynamodb:UpdateItem", "SessionsTable"),
        ("events:PutEvents", "EventBus"),
    },
}
EXPECTED_GRANTS["ResendFunction"] = EXPECTED_GRANTS["SubmitCodeFunction"]
EXPECTED_GRANTS["H5LinkFunction"] = {
    ("dynamodb:PutItem", "SessionsTable"),
    ("secretsmanager:GetSecretValue", "TenantSecretPrefix"),
    ("kms:Encrypt", "DataKey"),
}
# the page starts a task and signals it (start + submit / resend), and decrypts the prefill
EXPECTED_GRANTS["H5PageFunction"] = (
    (EXPECTED_GRANTS["SubmitCodeFunction"] | {("states:StartExecution", "CarrierAuthStateMachine"), ("kms:Decrypt", "DataKey")})
)

# Powertools' own variables; each function's settings are in its own Environment
# (tests/unit/test_function_settings.py)
GLOBAL_ENV = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}

API_ROUTES = {
    ("POST", "/carrier/auth", "StartFunction"),
    ("POST", "/carrier/auth/code", "SubmitCodeFunction"),
    ("POST", "/carrier/auth/resend", "ResendFunction"),
    ("GET", "/carrier/auth/{task_id}", "StatusFunction"),
    ("POST", "/identity/three-factor", "ThreeFactorFunction"),
    ("POST", "/identity/realname", "RealnameFunction"),
    ("POST", "/carrier/auth/h5", "H5LinkFunction"),
    ("POST", "/carrier/auth/{task_id}/callback", "RedeliverCallbackFunction"),
}
# the hosted page's routes: behind its own link token and cookie, never an API key (docs/h5.md)
PAGE_ROUTES = {
    ("GET", "/h5/{task_id}", "H5PageFunction"),
    ("GET", "/h5/{task_id}/{asset}", "H5PageFunction"),
    ("GET", "/h5/{task_id}/api/state", "H5PageFunction"),
    ("POST", "/h5/{task_id}/api/{action}", "H5PageFunction"),
    ("GET", "/openapi.json", "OpenApiFunction"),
}


# ------------------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    tpl, matches = decode(str(TEMPLATE))
    assert not matches, [str(m) for m in matches]
    assert tpl is not None
    return json.loads(json.dumps(tpl))


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _target(resource: Any) -> str:
    """The logical id or parameter an IAM Resource entry points at ("*" for the wildcard)."""
    if resource == "*":
        return "*"
    if isinstance(resource, dict):
        if "Ref" in resource:
            return resource["Ref"]
        if "Fn::GetAtt" in resource:
            att = resource["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
        if "Fn::Sub" in resource:
            text = resource["Fn::Sub"]
            text = text[0] if isinstance(text, list) else text
            names = [n for n in re.findall(r"\$\{([^}!.]+)\}", text) if not n.startswith("AWS::")]
            if len(names) == 1:
                return names[0]
    raise AssertionError(f"unrecognised IAM Resource {resource!r}")


def _policy_documents(template: dict[str, Any]) -> list[tuple[str, Any]]:
    """(owner, policy) for every role policy the template declares or SAM will generate."""
    docs: list[tuple[str, Any]] = []
    for kind in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
        for name, res in _of_type(template, kind).items():
            for policy in _as_list(res["Properties"].get("Policies", [])):
                docs.append((name, policy))
    for name, res in _of_type(template, "AWS::IAM::Role").items():
        for policy in res["Properties"].get("Policies", []):
            docs.append((name, policy["PolicyDocument"]))
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
        for name, res in _of_type(template, kind).items():
            docs.append((name, res["Properties"]["PolicyDocument"]))
    return docs


def _grants(res: dict[str, Any]) -> set[tuple[str, str]]:
    grants = set()
    for policy in _as_list(res["Properties"].get("Policies", [])):
        assert isinstance(policy, dict) and "Statement" in policy, policy
        for stmt in policy["Statement"]:
            assert stmt["Effect"] == "Allow"
            for action in _as_list(stmt["Action"]):
                for resource in _as_list(stmt["Resource"]):
                    grants.add((action, _target(resource)))
    return grants


# ------------------------------------------------------------------------------ lint
def test_cfn_lint_reports_no_errors() -> None:
    matches = lint_file(TEMPLATE, ManualArgs(regions=["us-east-1", "cn-north-1", "cn-northwest-1"]))
    errors = [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []


def test_every_arn_is_partition_aware() -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    assert "arn:aws:" not in text
    assert "arn:aws-cn:" not in text


# ------------------------------------------------------------------------------ logs
def test_every_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    functions = _of_type(template, "AWS::Serverless::Function")
    assert set(functions) == set(EXPECTED_GRANTS)
    groups = _of_type(template, "AWS::Logs::LogGroup")
    used = []
    for name, res in functions.items():
        ref = res["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert isinstance(ref, dict) and "Ref" in ref, f"{name} has no LoggingConfig.LogGroup"
        group = groups.get(ref["Ref"])
        assert group is not None, f"{name} logs to {ref['Ref']}, which is not a LogGroup"
        assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, name
        used.append(ref["Ref"])
    assert len(used) == len(set(used)), "functions share a log group"


def test_every_log_group_has_retention(template: dict[str, Any]) -> None:
    for name, res in _of_type(template, "AWS::Logs::LogGroup").items():
        assert res["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, name


def test_state_machine_logs_without_execution_data(template: dict[str, Any]) -> None:
    props = template["Resources"]["CarrierAuthStateMachine"]["Properties"]
    assert props["Type"] == "STANDARD"
    assert props["Logging"]["Level"] == "ALL"
    assert props["Logging"]["IncludeExecutionData"] is False
    assert props["Tracing"]["Enabled"] is True


# ------------------------------------------------------------------------------ API
def test_api_requires_a_key_and_throttles(template: dict[str, Any]) -> None:
    api = template["Resources"]["CarrierAuthApi"]["Properties"]
    assert api["Auth"]["ApiKeyRequired"] is True
    plan = api["Auth"]["UsagePlan"]
    assert plan["CreateUsagePlan"] == "PER_API"
    assert plan["Throttle"] == {
        "RateLimit": {"Ref": "ApiThrottleRateLimit"},
        "BurstLimit": {"Ref": "ApiThrottleBurstLimit"},
    }
    settings = api["MethodSettings"][0]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottleRateLimit"}
    assert settings["DataTraceEnabled"] is False
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert "$context.identity.apiKey\"" not in api["AccessLogSetting"]["Format"]


def test_every_api_event_requires_the_api_key_but_the_hosted_page(template: dict[str, Any]) -> None:
    api_default = template["Resources"]["CarrierAuthApi"]["Properties"]["Auth"]["ApiKeyRequired"]
    routes, page = set(), set()
    for name, res in _of_type(template, "AWS::Serverless::Function").items():
        for event in res["Properties"].get("Events", {}).values():
            if event["Type"] not in ("Api", "HttpApi"):
                continue
            assert event["Type"] == "Api", f"{name}: HTTP APIs have no API keys"
            props = event["Properties"]
            assert props.get("RestApiId") == {"Ref": "CarrierAuthApi"}, f"{name} uses an implicit API"
            required = props.get("Auth", {}).get("ApiKeyRequired", api_default)
            route = (props["Method"].upper(), props["Path"], name)
            (routes if required is True else page).add(route)
    assert routes == API_ROUTES
    assert page == PAGE_ROUTES


def test_gateway_errors_use_the_seed_envelope(template: dict[str, Any]) -> None:
    responses = template["Resources"]["CarrierAuthApi"]["Properties"]["GatewayResponses"]
    for kind in ("INVALID_API_KEY", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"):
        body = responses[kind]["ResponseTemplates"]["application/json"]
        rendered = body.replace("$context.requestTimeEpoch", "1").replace("$context.requestId", "r")
        envelope = json.loads(rendered)
        assert envelope["code"] == "103" and envelope["message"], kind
        assert set(envelope) == {"code", "message", "trace_id", "date_stamp", "data"}, kind
    assert responses["THROTTLED"]["StatusCode"] == "429"
    assert responses["INVALID_API_KEY"]["StatusCode"] == "403"


def test_facade_wait_stays_under_the_api_gateway_limit(template: dict[str, Any]) -> None:
    param = template["Parameters"]["FacadeWaitSeconds"]
    assert param["Default"] <= param["MaxValue"] < 29


# ------------------------------------------------------------------------------ IAM
def test_wildcard_resources_only_for_actions_without_resource_types(template: dict[str, Any]) -> None:
    for owner, policy in _policy_documents(template):
        assert not isinstance(policy, str), f"{owner}: managed policy {policy} (write a scoped statement)"
        if "Statement" not in policy:
            (name, args), = policy.items()
            assert name in NARROW_POLICY_TEMPLATES, f"{owner}: policy template {name}"
            assert all(v != "*" for v in args.values()), f"{owner}: {name} with a wildcard"
            continue
        for stmt in policy["Statement"]:
            actions = _as_list(stmt["Action"])
            assert all("*" not in a for a in actions), f"{owner}: wildcard action {actions}"
            if "*" in _as_list(stmt.get("Resource")):
                extra = set(actions) - WILDCARD_ONLY_ACTIONS
                assert not extra, f"{owner}: {sorted(extra)} on Resource '*'"


@pytest.mark.parametrize("function", sorted(EXPECTED_GRANTS))
def test_each_function_gets_exactly_what_it_calls(template: dict[str, Any], function: str) -> None:
    res = template["Resources"][function]
    assert _grants(res) == EXPECTED_GRANTS[function]


def test_secret_arns_match_only_the_named_secret(template: dict[str, Any]) -> None:
    for name in ("LoginFunction", "SendInputFunction", "CheckLoginFunction", "CollectFunction", "ThreeFactorFunction", "RealnameFunction"):
        for policy in template["Resources"][name]["Properties"]["Policies"]:
            for stmt in policy["Statement"]:
                if stmt["Action"] != "secretsmanager:GetSecretValue":
                    continue
                for resource in _as_list(stmt["Resource"]):
                    if "Ref" in resource:  # a secret of this stack: its exact ARN
                        continue
                    text = resource["Fn::Sub"]
                    assert text.startswith("arn:${AWS::Partition}:secretsmanager:${AWS::Region}:")
                    assert text.endswith("-??????"), text


# Each Task state of the machine and the one function it runs (functions/<dir>/app.py runs
# carrier_auth.flow.<dir>); the README's "State machine" table says the same.
STEP_TASKS = {
    "Begin": "LoginFunction",
    "CarrierInput": "SendInputFunction",
    "CarrierCheck": "CheckLoginFunction",
    "UpstreamBusy": "AnswerBusyFunction",
    "Failover": "FailoverFunction",
    "Finish": "PublishResultFunction",
    "InputTimedOut": "InputTimeoutFunction",
    "SystemError": "SystemErrorFunction",
}
STEP_FUNCTIONS = set(STEP_TASKS.values())


def test_every_task_runs_one_function_and_one_entry_point(template: dict[str, Any]) -> None:
    """ASL Task -> ${XArn} -> template function X -> functions/<dir>/app.py -> flow.<dir>: a
    newcomer follows a Task to its code by name alone."""
    from carrier_auth import flow

    asl = json.loads(ASL.read_text(encoding="utf-8"))
    substitutions = template["Resources"]["CarrierAuthStateMachine"]["Properties"]["DefinitionSubstitutions"]
    tasks = {
        name: state["Parameters"]["FunctionName"]
        for name, state in asl["States"].items()
        if state["Type"] == "Task" and ":lambda:invoke" in state["Resource"]
    }
    assert {name: ref[2:-4] for name, ref in tasks.items()} == STEP_TASKS  # "${LoginFunctionArn}"
    for task, function in STEP_TASKS.items():
        assert substitutions[f"{function}Arn"] == {"Fn::GetAtt": [function, "Arn"]}
        code = Path(template["Resources"][function]["Properties"]["CodeUri"])
        entry = code.name
        assert (ROOT / code / "app.py").read_text(encoding="utf-8").rstrip().endswith(
            f"lambda_handler = step_function(flow.{entry})"
        ), function
        assert callable(getattr(flow, entry)) and task in getattr(flow, entry).__doc__
    assert len(set(STEP_TASKS.values())) == len(STEP_TASKS)  # no function serves two Tasks


def test_state_machine_invokes_only_its_step_functions(template: dict[str, Any]) -> None:
    props = template["Resources"]["CarrierAuthStateMachine"]["Properties"]
    invoked = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in props["Policies"] if "LambdaInvokePolicy" in p
    }
    assert invoked == STEP_FUNCTIONS
    sent_to = {p["SQSSendMessagePolicy"]["QueueName"]["Fn::GetAtt"][0] for p in props["Policies"] if "SQSSendMessagePolicy" in p}
    assert sent_to == {"CollectQueue"}  # the Collect state's message


def test_callback_queue_accepts_only_the_finished_rule(template: dict[str, Any]) -> None:
    doc = template["Resources"]["CallbackQueuePolicy"]["Properties"]["PolicyDocument"]
    allow = [s for s in doc["Statement"] if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["FinishedRule", "Arn"]}


# ------------------------------------------------------------------------------ wiring
def test_globals_environment(template: dict[str, Any]) -> None:
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.13"
    assert glob["Architectures"] == ["arm64"]
    assert glob["Tracing"] == "Active"
    assert glob["Layers"] == [{"Ref": "CommonLayer"}]
    assert set(glob["Environment"]["Variables"]) == GLOBAL_ENV


def test_function_code_folders_exist(template: dict[str, Any]) -> None:
    for name, res in _of_type(template, "AWS::Serverless::Function").items():
        code = ROOT / res["Properties"]["CodeUri"]
        assert (code / "app.py").is_file(), f"{name}: {code}/app.py missing"


@pytest.mark.parametrize("name", ["Callback", "Collect"])
def test_queues_outlive_the_handler_timeout(template: dict[str, Any], name: str) -> None:
    queue = template["Resources"][f"{name}Queue"]["Properties"]
    timeout = template["Resources"][f"{name}Function"]["Properties"]["Timeout"]
    assert queue["VisibilityTimeout"] >= 6 * timeout
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": [f"{name}DeadLetterQueue", "Arn"]}
    dlq = template["Resources"][f"{name}DeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > queue.get("MessageRetentionPeriod", 345600)


def test_the_collect_function_decides_before_the_redrive(template: dict[str, Any]) -> None:
    polls = template["Parameters"]["MaxCollectPolls"]["MaxValue"]
    assert template["Resources"]["CollectQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] > polls
    assert template["Parameters"]["PollIntervalSeconds"]["MaxValue"] <= 900  # SQS DelaySeconds


def test_tables_match_what_the_code_expects(template: dict[str, Any]) -> None:
    sessions = template["Resources"]["SessionsTable"]["Properties"]
    assert sessions["KeySchema"] == [{"AttributeName": "task_id", "KeyType": "HASH"}]
    assert sessions["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert sessions["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    idem = template["Resources"]["IdempotencyTable"]["Properties"]
    assert idem["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idem["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.skipif(not ASL.exists(), reason="state machine definition not written yet")
def test_every_asl_placeholder_has_a_substitution(template: dict[str, Any]) -> None:
    subs = template["Resources"]["CarrierAuthStateMachine"]["Properties"]["DefinitionSubstitutions"]
    placeholders = set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", ASL.read_text(encoding="utf-8")))
    assert placeholders <= set(subs), f"unresolved: {sorted(placeholders - set(subs))}"


def test_samconfig_environments() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    params = set(json.loads(json.dumps(decode(str(TEMPLATE))[0]))["Parameters"])
    for env, stack in (("default", "carrier-auth-dev"), ("dev", "carrier-auth-dev"), ("prod", "carrier-auth-prod")):
        assert config[env]["global"]["parameters"]["stack_name"] == stack
        deploy = config[env]["deploy"]["parameters"]
        assert deploy["capabilities"] == "CAPABILITY_IAM"
        assert deploy["resolve_s3"] is True
        overrides = dict(re.findall(r'(\w+)="([^"]*)"', deploy["parameter_overrides"]))
        assert set(overrides) <= params, f"{env}: unknown parameters {set(overrides) - params}"
    assert "EnvironmentName=\"prod\"" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


# ------------------------------------------------------------------------------ events
EVENT_FILES = sorted(EVENTS.rglob("*.json"))


def test_events_exist_for_every_function(template: dict[str, Any]) -> None:
    """events/<code dir>/ for every function: what `sam local invoke` and the handler tests use."""
    folders = {p.parent.name for p in EVENT_FILES}
    code_dirs = {Path(spec["Properties"]["CodeUri"]).name for spec in _of_type(template, "AWS::Serverless::Function").values()}
    assert folders == code_dirs


def test_collect_event_carries_the_collect_states_message() -> None:
    event = json.loads((EVENTS / "collect" / "sqs.json").read_text(encoding="utf-8"))
    assert set(json.loads(event["Records"][0]["body"])) == {"task_id", "task_token"}
    asl = json.loads(ASL.read_text(encoding="utf-8"))
    assert set(asl["States"]["Collect"]["Parameters"]["MessageBody"]) == {"task_id.$", "task_token.$"}


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: str(p.relative_to(EVENTS)))
def test_event_file_parses(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(event, dict) and event


@pytest.mark.parametrize(
    "path", [p for p in EVENT_FILES if "httpMethod" in p.read_text(encoding="utf-8")], ids=lambda p: p.parent.name
)
def test_api_events_match_a_route(path: Path) -> None:
    event = json.loads(path.read_text(encoding="utf-8"))
    routes = {(m, p) for m, p, _ in API_ROUTES}
    page = {(m, p) for m, p, _ in PAGE_ROUTES}
    assert (event["httpMethod"], event["resource"]) in routes | page
    assert event["requestContext"]["resourcePath"] == event["resource"]
    if (event["httpMethod"], event["resource"]) in routes:
        assert event["headers"]["x-api-key"] == event["requestContext"]["identity"]["apiKey"]
    else:  # the hosted page: no API key
        assert "x-api-key" not in event["headers"] and "apiKey" not in event["requestContext"]["identity"]
    assert event["isBase64Encoded"] is False
    if event["body"] is not None:
        assert isinstance(json.loads(event["body"]), dict)
    path = event["resource"]
    for name, value in (event["pathParameters"] or {}).items():  # the resource, its parameters filled in
        path = path.replace("{" + name + "}", value)
    assert event["path"] == path


def test_sqs_event_carries_an_eventbridge_finished_event() -> None:
    event = json.loads((EVENTS / "callback" / "sqs.json").read_text(encoding="utf-8"))
    body = json.loads(event["Records"][0]["body"])
    assert body["source"] == "carrier-auth.gateway"
    assert body["detail-type"] == "CarrierAuthFinished"
    assert {"task_id", "event_id", "result", "finished_at"} <= set(body["detail"])


# ------------------------------------------------------------------------------ alarms and dashboard
OPERATIONS = ROOT / "docs" / "operations.md"
CODE = ROOT / "layers" / "common" / "carrier_auth"
# made by SAM's transform, not declared: ReconcileFunction's EventBridge DeadLetterConfig
SAM_MADE = {"ReconcileDeadLetterQueue"}
RUNBOOK = re.compile(r"Runbook: docs/operations\.md#([a-z0-9-]+)$")
PROVIDERS = {"juxinli", "moxie", "three_factor", "yuxin"}
AWS_METRICS = {
    "AWS/Lambda": {"Errors", "Throttles"},
    "AWS/States": {"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut",
                   "ExecutionsAborted"},
    "AWS/ApiGateway": {"5XXError", "4XXError", "Latency"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible"},
}


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in _of_type(template, "AWS::CloudWatch::Alarm").items()}


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+ (.+)$", markdown.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def _emitted_metrics() -> set[str]:
    """Every metric name the code writes: telemetry's contract and the functions' own literals."""
    from carrier_auth import telemetry

    names = {*telemetry.FUNNEL, telemetry.GUIDE_CODE_ANSWERED, *telemetry.UPSTREAM}
    for path in [*ROOT.glob("functions/*/app.py"), *CODE.glob("*.py")]:
        names |= set(re.findall(r'(?:add_metric\(name|metric)="(\w+)"', path.read_text(encoding="utf-8")))
    return names


def _metric_stats(props: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric, {dimension: value}) of an alarm, single metric or metric math."""
    if "MetricName" in props:
        return [(props["Namespace"], props["MetricName"], {d["Name"]: d["Value"] for d in props["Dimensions"]})]
    stats = []
    for query in props["Metrics"]:
        if "MetricStat" in query:
            metric = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            stats.append((metric["Namespace"], metric["MetricName"], dims))
    return stats


def _telemetry_env(template: dict[str, Any]) -> tuple[str, str]:
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    return env["POWERTOOLS_METRICS_NAMESPACE"], env["POWERTOOLS_SERVICE_NAME"]


def test_every_function_has_an_errors_and_a_throttles_alarm(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    for function in _of_type(template, "AWS::Serverless::Function"):
        for metric in ("Errors", "Throttles"):
            props = alarms.get(f"{function}{metric}Alarm")
            assert props is not None, f"{function} has no {metric} alarm"
            assert _metric_stats(props) == [("AWS/Lambda", metric, {"FunctionName": {"Ref": function}})]
            assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", 300, 1)
            assert (props["ComparisonOperator"], props["Threshold"]) == ("GreaterThanThreshold", 0)


def test_every_alarm_notifies_the_topic_and_names_its_runbook(template: dict[str, Any]) -> None:
    anchors = _anchors(OPERATIONS)
    alarms = _alarms(template)
    assert len(alarms) >= 2 * len(_of_type(template, "AWS::Serverless::Function")) + 13
    for name, props in alarms.items():
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["TreatMissingData"] == "notBreaching", name
        runbook = RUNBOOK.search(props["AlarmDescription"])
        assert runbook, f"{name}: no runbook in its description"
        assert runbook.group(1) in anchors, f"{name}: docs/operations.md has no #{runbook.group(1)}"
        # docs/operations.md lists each alarm by its logical id (the per-function ones as a pattern)
        assert name in OPERATIONS.read_text(encoding="utf-8") or name.endswith(("ErrorsAlarm", "ThrottlesAlarm"))


def test_workflow_api_and_queue_alarms(template: dict[str, Any]) -> None:
    alarms = _alarms(template)
    machine = {"StateMachineArn": {"Ref": "CarrierAuthStateMachine"}}
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"):
        props = alarms[f"StateMachine{metric}Alarm"]
        assert _metric_stats(props) == [("AWS/States", metric, machine)]
    api = template["Resources"]["CarrierAuthApi"]["Properties"]
    api_dims = {"ApiName": api["Name"], "Stage": api["StageName"]}
    assert _metric_stats(alarms["Api5XXErrorAlarm"]) == [("AWS/ApiGateway", "5XXError", api_dims)]
    latency = alarms["ApiLatencyAlarm"]
    assert _metric_stats(latency) == [("AWS/ApiGateway", "Latency", api_dims)]
    assert (latency["ExtendedStatistic"], latency["Threshold"]) == ("p99", 10000)
    # every dead-letter queue, declared or made by SAM, has its depth alarm
    queues = {q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
              for q in _of_type(template, "AWS::SQS::Queue").values() if "RedrivePolicy" in q["Properties"]}
    for function in _of_type(template, "AWS::Serverless::Function").values():
        for event in function["Properties"].get("Events", {}).values():
            dlq = event["Properties"].get("DeadLetterConfig", {}).get("QueueLogicalId")
            if dlq:
                queues.add(dlq)
    assert queues == {"CallbackDeadLetterQueue", "CollectDeadLetterQueue"} | SAM_MADE
    watched = {stats[0][2]["QueueName"]["Fn::GetAtt"][0] for props in alarms.values()
               if (stats := _metric_stats(props)) and stats[0][0] == "AWS/SQS"}
    assert watched == queues


def test_rate_alarms_read_the_metrics_the_code_writes(template: dict[str, Any]) -> None:
    namespace, service = _telemetry_env(template)
    alarms = _alarms(template)
    callbacks = alarms["CallbackFailureRateAlarm"]
    assert {(m, tuple(d.items())) for _, m, d in _metric_stats(callbacks)} == {
        ("CallbackFailed", (("service", service),)),
        ("CallbackDelivered", (("service", service),)),
    }
    assert callbacks["Threshold"] == 0.2
    assert all(q["MetricStat"]["Period"] == 900 for q in callbacks["Metrics"] if "MetricStat" in q)
    assert "FILL(" in next(q["Expression"] for q in callbacks["Metrics"] if q.get("ReturnData"))
    # one upstream alarm per provider the template can configure
    known = set(template["Parameters"]["CarrierProvider"]["AllowedValues"])
    for value in template["Parameters"]["IdentityProviders"]["AllowedValues"]:
        known |= set(value.split(","))
    assert known == PROVIDERS
    upstream = {props["AlarmName"]["Fn::Sub"]: props for props in alarms.values() if "Upstream" in str(props)}
    assert len(upstream) == len(PROVIDERS)
    for props in upstream.values():
        (provider,) = {d["Provider"] for _, _, d in _metric_stats(props)}
        assert {m for _, m, _ in _metric_stats(props)} == {"UpstreamFailed", "UpstreamCall"}
        assert all(d == {"Provider": provider, "service": service} for _, _, d in _metric_stats(props))
        assert props["Threshold"] == 0.2
        assert all(q["MetricStat"]["Period"] == 600 for q in props["Metrics"] if "MetricStat" in q)
    assert {d["Provider"] for p in upstream.values() for _, _, d in _metric_stats(p)} == PROVIDERS
    # every custom metric an alarm reads is one the code writes, where the code writes it
    for name, props in alarms.items():
        for ns, metric, dims in _metric_stats(props):
            if ns.startswith("AWS/"):
                assert metric in AWS_METRICS[ns], name
            else:
                assert (ns, metric, dims.get("service")) == (namespace, metric, service), name
                assert metric in _emitted_metrics(), f"{name} reads {metric}, which nothing writes"


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}  # not alias/aws/sns: CloudWatch cannot use it
    key = template["Resources"]["AlarmTopicKey"]["Properties"]
    grants = [s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert len(grants) == 1
    assert set(grants[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert grants[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert key["EnableKeyRotation"] is True


def test_alarm_email_is_subscribed_only_when_set(template: dict[str, Any]) -> None:
    param = template["Parameters"]["AlarmEmail"]
    assert param["Default"] == ""
    assert re.fullmatch(param["AllowedPattern"], "")
    assert re.fullmatch(param["AllowedPattern"], "oncall@example.com")
    assert not re.fullmatch(param["AllowedPattern"], "not an address")
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    subscriptions = _of_type(template, "AWS::SNS::Subscription")
    assert list(subscriptions) == ["AlarmEmailSubscription"]
    sub = subscriptions["AlarmEmailSubscription"]
    assert sub["Condition"] == "HasAlarmEmail"
    assert sub["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }
    assert list(_of_type(template, "AWS::SNS::Topic")) == ["AlarmTopic"]


def _dashboard_body(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The body's !Sub text, and the JSON it becomes with every variable substituted (each must
    name a parameter, a pseudo parameter, or a resource and attribute the stack has)."""
    text = template["Resources"]["CarrierAuthDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(text, str)
    known = set(template["Parameters"]) | set(template["Resources"]) | SAM_MADE

    def substitute(match: re.Match) -> str:
        name = match.group(1)
        if name.startswith("!"):
            return "${" + name[1:] + "}"
        assert name.startswith("AWS::") or name.split(".")[0] in known, f"unknown ${{{name}}}"
        return f"<{name}>"

    return text, json.loads(re.sub(r"\$\{([^}]+)\}", substitute, text))


def test_dashboard_body_is_json_and_reads_what_the_code_writes(template: dict[str, Any]) -> None:
    from carrier_auth import numbers, telemetry

    namespace, service = _telemetry_env(template)
    text, body = _dashboard_body(template)
    emitted = _emitted_metrics()
    titles = set()
    for widget in body["widgets"]:
        assert {"type", "x", "y", "width", "height", "properties"} <= set(widget)
        assert widget["x"] + widget["width"] <= 24
        props = widget["properties"]
        titles.add(props.get("title", ""))
        for row in props.get("metrics", []):
            options = row[-1] if isinstance(row[-1], dict) else {}
            if "expression" in options:
                for schema, metric in re.findall(r"SEARCH\('\{([^}]*)\} MetricName=\"(\w+)\"", options["expression"]):
                    assert schema.split(",")[0] == namespace and schema.endswith(",service"), schema
                    assert metric in emitted, f"{props['title']}: {metric} is written by nothing"
                continue
            ns, metric, *dims = [x for x in row if not isinstance(x, dict)]
            if ns.startswith("AWS/"):
                assert metric in AWS_METRICS[ns], metric
            else:
                assert ns == namespace and metric in emitted, metric
                assert dict(zip(dims[::2], dims[1::2]))["service"] == service
    # the funnel in its order, each step of telemetry's contract, and its dimensions
    funnel = re.findall(r'\{CarrierAuth,Carrier,Province,service\} MetricName=\\"(\w+)\\""?\', \'Sum\'\)\)"', text)
    assert funnel == list(telemetry.FUNNEL)
    assert "{CarrierAuth,GuideCode,service} MetricName=\\\"GuideCodeAnswered\\\"" in text
    for province in numbers.PROVINCES:
        assert f'Province=\\"{province}\\"' in text, province
    # the alarm widget shows every alarm, the errors widget every function
    (alarm_widget,) = [w["properties"] for w in body["widgets"] if w["type"] == "alarm"]
    assert {a.strip("<>").removesuffix(".Arn") for a in alarm_widget["alarms"]} == set(_alarms(template))
    errors = next(w["properties"] for w in body["widgets"] if w["properties"].get("title") == "Lambda errors")
    assert {row[3].strip("<>") for row in errors["metrics"]} == set(_of_type(template, "AWS::Serverless::Function"))
    assert titles >= {
        "Callbacks", "API 5XX and latency", "Upstream error rate by provider (%)", "Answers per guide code"
    }


def test_outputs_name_the_topic_and_a_partition_aware_dashboard_url(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    url, variables = outputs["DashboardUrl"]["Value"]["Fn::Sub"]
    assert url == "https://${Console}/cloudwatch/home?region=${AWS::Region}#dashboards:name=${CarrierAuthDashboard}"
    assert variables["Console"] == {"Fn::If": ["IsChina", "console.amazonaws.cn", "console.aws.amazon.com"]}
    assert template["Conditions"]["IsChina"] == {"Fn::Equals": [{"Ref": "AWS::Partition"}, "aws-cn"]}
