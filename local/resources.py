"""template.yaml's data resources created in moto: keys, generated secrets, tables, queues, event
buses and rules, the state machines; with the names and ARNs ``Ref`` / ``GetAtt`` resolve to
recorded on the resolver first, as CloudFormation knows them before it creates anything.

Used by the embedded stack (local/stack.py, moto server) and by the handler unit tests
(tests/unit/test_handler_events.py, moto in-process): the same template, the same resources."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .template import (
    ACCOUNT,
    PARTITION,
    ROOT,
    STACK,
    Resolver,
    arn,
    function_name,
    queue_attributes,
    queues_in_creation_order,
    resources_of,
)


def resource_name(logical: str) -> str:
    """The physical name of a stack resource (table, queue, rule, state machine)."""
    return f"{STACK}-{logical}"


@dataclass
class Created:
    tables: dict[str, str] = field(default_factory=dict)  # logical id -> table name
    queues: dict[str, str] = field(default_factory=dict)  # logical id -> queue URL
    event_bus_name: str = ""
    state_machine_arn: str = ""


def precompute_names(template: dict[str, Any], r: Resolver) -> None:
    """Names and ARNs CloudFormation would know before creating anything (a queue's Ref, its
    URL, is recorded when the queue is made)."""
    for logical in resources_of(template, "AWS::DynamoDB::Table"):
        r.refs[logical] = resource_name(logical)
        r.attrs[(logical, "Arn")] = arn("dynamodb", f"table/{resource_name(logical)}")
    for logical in resources_of(template, "AWS::SQS::Queue"):
        r.attrs[(logical, "Arn")] = arn("sqs", resource_name(logical))
        r.attrs[(logical, "QueueName")] = resource_name(logical)
    for logical, spec in resources_of(template, "AWS::Events::EventBus").items():
        name = r.resolve(spec["Properties"]["Name"])
        r.refs[logical] = r.attrs[(logical, "Name")] = name
        r.attrs[(logical, "Arn")] = arn("events", f"event-bus/{name}")
    for logical in resources_of(template, "AWS::Events::Rule"):
        r.refs[logical] = resource_name(logical)
        r.attrs[(logical, "Arn")] = arn("events", f"rule/{resource_name(logical)}")
    for logical, spec in resources_of(template, "AWS::Serverless::Function").items():
        name = function_name(logical, spec)
        r.refs[logical] = name
        r.attrs[(logical, "Arn")] = arn("lambda", f"function:{name}")
    for logical in resources_of(template, "AWS::Serverless::StateMachine"):
        r.refs[logical] = r.attrs[(logical, "Arn")] = arn("states", f"stateMachine:{resource_name(logical)}")
        r.attrs[(logical, "Name")] = resource_name(logical)
    for logical in resources_of(template, "AWS::Serverless::LayerVersion"):
        r.refs[logical] = arn("lambda", f"layer:{logical}:1")
    for logical in resources_of(template, "AWS::Logs::LogGroup"):
        r.refs[logical] = logical
        r.attrs[(logical, "Arn")] = arn("logs", f"log-group:{logical}")


def create_resources(
    template: dict[str, Any],
    r: Resolver,
    client: Callable[[str], Any],
    wanted_key: Callable[[str], bool] = lambda _logical: True,
) -> Created:
    """Create the template's data resources with ``client(service)``; ``wanted_key``: which KMS
    keys to make (moto makes a key pair for each: the unit tests skip the ones no function uses)."""
    precompute_names(template, r)
    made = Created()
    kms = client("kms")
    for logical, spec in resources_of(template, "AWS::KMS::Key").items():
        if wanted_key(logical):
            key = kms.create_key(Description=spec["Properties"].get("Description", logical))["KeyMetadata"]
            r.refs[logical], r.attrs[(logical, "Arn")] = key["KeyId"], key["Arn"]
    sm = client("secretsmanager")
    for logical in resources_of(template, "AWS::SecretsManager::Secret"):  # generated secrets: random locally
        r.refs[logical] = sm.create_secret(Name=f"{STACK}/{logical}", SecretString=secrets.token_urlsafe(32))["ARN"]
    ddb = client("dynamodb")
    for logical, spec in resources_of(template, "AWS::DynamoDB::Table").items():
        props = r.resolve(spec["Properties"])
        name = r.refs[logical]
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        if props.get("TimeToLiveSpecification"):
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
        made.tables[logical] = name
    sqs = client("sqs")
    queues = resources_of(template, "AWS::SQS::Queue")
    for logical in queues_in_creation_order(template):
        attributes = queue_attributes(r.resolve(queues[logical].get("Properties", {})))
        url = sqs.create_queue(QueueName=resource_name(logical), Attributes=attributes)["QueueUrl"]
        made.queues[logical] = r.refs[logical] = url
    events = client("events")
    for logical in resources_of(template, "AWS::Events::EventBus"):
        events.create_event_bus(Name=r.refs[logical])
        made.event_bus_name = r.refs[logical]
    for logical, spec in resources_of(template, "AWS::Events::Rule").items():
        props = r.resolve(spec["Properties"])
        bus = props.get("EventBusName", "default")
        events.put_rule(Name=resource_name(logical), EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]))
        targets = [{"Id": tg["Id"], "Arn": tg["Arn"]} for tg in props.get("Targets", [])]
        events.put_targets(Rule=resource_name(logical), EventBusName=bus, Targets=targets)
    sfn = client("stepfunctions")
    for logical, spec in resources_of(template, "AWS::Serverless::StateMachine").items():
        props = spec["Properties"]
        definition = (ROOT / props["DefinitionUri"]).read_text(encoding="utf-8")
        for key, value in r.resolve(props.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        sfn.create_state_machine(
            name=resource_name(logical),
            definition=definition,
            roleArn=f"arn:{PARTITION}:iam::{ACCOUNT}:role/{resource_name(logical)}-role",
            type=props.get("Type", "STANDARD"),
        )
        made.state_machine_arn = r.refs[logical]
    return made
