"""Read template.yaml and create its resources in moto: the embedded stack runs what deploys.

Only what the local stack needs is interpreted: Parameters, Globals, Ref / GetAtt / Sub /
Join / If / Equals, and the resource types the template uses. Names and ARNs follow what
CloudFormation would produce in a fixed local account and region.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK = "carrier-auth-local"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


@dataclass
class Resolver:
    """Resolves intrinsic functions against parameters and the physical ids of resources."""

    template: dict[str, Any]
    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in self.template.get("Parameters", {}).items():
            self.parameters.setdefault(name, str(spec.get("Default", "")))
        self.pseudo = {
            "AWS::Partition": PARTITION,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": STACK,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": None,
        }

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.refs.get(name, name)  # resources the local stack does not model: their id

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def repl(match: re.Match) -> str:
            key = match.group(1)
            if key in variables:
                return str(variables[key])
            if "." in key:
                logical, attr = key.split(".", 1)
                return str(self.attrs.get((logical, attr), key))
            return str(self.ref(key))

        return re.sub(r"\$\{([^!][^}]*)\}", repl, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not None]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                logical, attr = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.attrs.get((logical, attr), f"{logical}.{attr}")
            if key == "Fn::Sub":
                if isinstance(arg, list):
                    return self._sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
                return self._sub(arg, {})
            if key == "Fn::Join":
                return arg[0].join(str(x) for x in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not None}


def arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:{PARTITION}:{service}:{region}:{ACCOUNT}:{resource}"


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def queues_in_creation_order(template: dict[str, Any]) -> list[str]:
    """The queues' logical ids, dead-letter queues first (a RedrivePolicy names its target)."""
    queues = resources_of(template, "AWS::SQS::Queue")
    return sorted(queues, key=lambda q: "RedrivePolicy" in queues[q].get("Properties", {}))


def queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """CreateQueue's Attributes from a queue's resolved Properties (the ones SQS takes as such)."""
    return {
        k: json.dumps(v) if isinstance(v, dict) else str(v)
        for k, v in props.items()
        if k in ("VisibilityTimeout", "MessageRetentionPeriod", "RedrivePolicy", "DelaySeconds")
    }


def function_name(logical: str, spec: dict[str, Any]) -> str:
    return spec.get("Properties", {}).get("FunctionName") or logical


def function_environment(template: dict[str, Any], resolver: Resolver, logical: str) -> dict[str, str]:
    glob = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    own = template["Resources"][logical].get("Properties", {}).get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in resolver.resolve({**glob, **own}).items()}


def api_routes(template: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(METHOD, path template, function logical id, API key required) for every Api event."""
    default = template["Resources"]["CarrierAuthApi"]["Properties"].get("Auth", {}).get("ApiKeyRequired", False)
    routes = []
    for logical, spec in resources_of(template, "AWS::Serverless::Function").items():
        for event in spec.get("Properties", {}).get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                key = props.get("Auth", {}).get("ApiKeyRequired", default)
                routes.append((props["Method"].upper(), props["Path"], logical, bool(key)))
    return routes
