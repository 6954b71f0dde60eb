"""The embedded stack: template.yaml's resources in moto, our handlers in local execution
environments, sandbox providers, a local API gateway and a callback receiver. No Docker, no
AWS account.

    stack = EmbeddedStack(api_port=0, moto_port=0).start()
    ... HTTP to stack.api_url ...
    stack.stop()

moto runs in server mode inside this process (its Step Functions interpreter runs the real
ASL and calls Lambda through moto's API, which ``runtime.patch_moto_lambda`` routes to our
handlers). The handlers run in their own processes (``local.runtime``), each function with
only its own environment variables. Everything that talks to AWS - our handlers, Powertools,
the interpreter - goes through the moto endpoint, which is also open to aws-cli / boto3 with
``--endpoint-url``.

Tenants: several apps share one deployment, each with its own API key and callback secret
(a Secrets Manager secret named ``TenantSecretPrefix`` + the API key's id). Two local tenants
exist out of the box (``stack.tenants``); ``stack.api_key`` / ``stack.callback_secret`` are the
first one's.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from carrier_auth.config import env_int

from . import moto_patches
from .api_gateway import LocalApiGateway
from .callback_receiver import CallbackReceiver
from .pollers import SqsPoller
from .resources import create_resources, resource_name
from .runtime import FunctionRegistry, LogRelay, load_functions, patch_moto_lambda
from .sandbox.server import SandboxProviders
from .template import (
    REGION,
    Resolver,
    api_routes,
    arn,
    load_template,
    resources_of,
)

log = logging.getLogger("carrier_auth.local")

SANDBOX_JUXINLI_SECRET = "sandbox-juxinli-secret"
SANDBOX_THREE_FACTOR_TOKEN = "sandbox-three-factor-token"
SANDBOX_MOXIE_APIKEY = "sandbox-moxie-apikey"
SANDBOX_YUXIN_TOKEN = "sandbox-yuxin-token"
SANDBOX_YUXIN_KEY = "0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_max_environments() -> int:
    """Execution environments per function when CARRIER_AUTH_LOCAL_MAX_ENVIRONMENTS is not set:
    10 per CPU. Every environment shares this machine's CPUs (in AWS each has its own), and a
    new one costs a fifth of a CPU second on its first invocation (lazy imports, first clients),
    while a waiting facade costs a read every 40 ms: on 2 CPUs, 200 flows at once finish soonest
    and cheapest with 10-20 environments per function (measured: bench/concurrency.py; 40 cost
    a quarter more CPU per flow and took longer). Beyond the cap, invocations queue for a free
    environment, as under reserved concurrency (where AWS would throttle them instead)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 10 * (cpus or 2)


@dataclass(frozen=True)
class Tenant:
    """An app using the gateway: its API key (and the key's id, as API Gateway names it) and
    the secret its callbacks are signed with."""

    name: str
    api_key: str
    api_key_id: str
    callback_secret: str
    display_name: str = ""


def local_tenants(api_key: str | None = None, callback_secret: str | None = None) -> list[Tenant]:
    """The two local tenants; the first one's key and secret may be given."""
    env = os.environ.get
    return [
        Tenant(
            name="dev-app",
            api_key=api_key or env("CARRIER_AUTH_API_KEY") or "dev-api-key",
            api_key_id="devkey0001",
            callback_secret=callback_secret or env("CARRIER_AUTH_CALLBACK_SECRET") or "dev-callback-secret",
            display_name="示例借款",
        ),
        Tenant(
            name="dev-app-2",
            api_key=env("CARRIER_AUTH_API_KEY_2") or "dev-api-key-2",
            api_key_id="devkey0002",
            callback_secret=env("CARRIER_AUTH_CALLBACK_SECRET_2") or "dev-callback-secret-2",
            display_name="示例风控",
        ),
    ]


class EmbeddedStack:
    def __init__(
        self,
        api_port: int = 3000,
        moto_port: int = 5000,
        receiver_port: int = 0,
        api_key: str | None = None,
        callback_secret: str | None = None,
        input_timeout: int | None = None,
        poll_interval: int | None = None,
        parameters: dict[str, str] | None = None,
        log_stream: Any = None,
        max_environments: int | None = None,
        settings_log: Path | None = None,
    ) -> None:
        self.api_port = api_port
        self.moto_port = moto_port or free_port()
        self.receiver_port = receiver_port
        self.tenants = local_tenants(api_key, callback_secret)
        self.api_key = self.tenants[0].api_key
        self.callback_secret = self.tenants[0].callback_secret
        self.input_timeout = input_timeout or env_int("CARRIER_AUTH_INPUT_TIMEOUT_SECONDS", 300)
        self.poll_interval = poll_interval if poll_interval is not None else env_int("CARRIER_AUTH_POLL_INTERVAL_SECONDS", 1)
        self.extra_parameters = parameters or {}
        self.log_stream = log_stream
        # where the functions record the setting variables they read (tests), None: not recorded
        self.settings_log = settings_log
        # execution environments per function; beyond, invocations wait for a free one
        self.max_environments = max_environments or env_int(
            "CARRIER_AUTH_LOCAL_MAX_ENVIRONMENTS", default_max_environments()
        )
        # the environments' CPU priority below this process (moto, the interpreter, the gateway);
        # the API functions' (waiting facades) 5 lower still: runtime.FACADE_NICE
        self.function_nice = env_int("CARRIER_AUTH_LOCAL_FUNCTION_NICE", 10)
        self.template = load_template()
        self.pollers: list[SqsPoller] = []
        self.queues: dict[str, str] = {}  # logical id -> url
        self.tables: dict[str, str] = {}  # logical id -> name
        self.registry: FunctionRegistry | None = None
        self.state_machine_arn = ""
        self.event_bus_name = ""

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "EmbeddedStack":
        self._aws_environment()
        self._start_moto()
        upstream_timeout = self.extra_parameters.get("UpstreamTimeoutSeconds") or os.environ.get(
            "CARRIER_AUTH_UPSTREAM_TIMEOUT_SECONDS", "5"
        )
        # an answer the sandbox must deliver after the adapters have given up waiting
        late = float(upstream_timeout) + 1.5
        self.sandbox = SandboxProviders(  # every provider's emulator, mounted the same way
            juxinli_client_secret=SANDBOX_JUXINLI_SECRET,
            three_factor_token=SANDBOX_THREE_FACTOR_TOKEN,
            moxie_apikey=SANDBOX_MOXIE_APIKEY,
            yuxin_token=SANDBOX_YUXIN_TOKEN,
            yuxin_aes_key=SANDBOX_YUXIN_KEY,
            late_answer_seconds=late,
        ).start()
        primary = os.environ.get("CARRIER_AUTH_CARRIER_PROVIDER", "juxinli")
        self.receiver = CallbackReceiver({t.api_key_id: t.callback_secret for t in self.tenants}).start(
            port=self.receiver_port
        )
        parameters = {
            "JuxinliBaseUrl": self.sandbox.juxinli_base_url,
            "JuxinliOrgName": "SANDBOX",
            "ThreeFactorBaseUrl": self.sandbox.three_factor_base_url,
            "CarrierProvider": primary,
            "CarrierProviderFallback": "moxie" if primary == "juxinli" else "juxinli",
            "MoxieBaseUrl": self.sandbox.url("/moxie"),
            "YuxinBaseUrl": self.sandbox.url("/yuxin"),
            "ResendIntervalSeconds": os.environ.get("CARRIER_AUTH_RESEND_INTERVAL_SECONDS", "60"),
            "InputTimeoutSeconds": str(self.input_timeout),
            "PollIntervalSeconds": str(self.poll_interval),
            "CallbackAllowedHosts": "127.0.0.1,localhost",
            "LogLevel": os.environ.get("CARRIER_AUTH_LOG_LEVEL", "INFO"),
            "UpstreamTimeoutSeconds": upstream_timeout,
            **self.extra_parameters,
        }
        self.resolver = Resolver(self.template, parameters)
        self._create_resources()
        self._load_functions()
        api_keys = {t.api_key: t.api_key_id for t in self.tenants}
        self.api = LocalApiGateway(self.registry, api_routes(self.template), api_keys).start(port=self.api_port)
        for poller in self.pollers:
            poller.start()
        log.info("embedded stack up: api %s, moto %s", self.api_url, self.moto_url)
        return self

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join()
        if hasattr(self, "api"):
            self.api.stop()
        if self.registry is not None:
            self.registry.stop()
        for part in ("receiver", "sandbox"):
            if hasattr(self, part):
                getattr(self, part).stop()
        if hasattr(self, "_moto"):
            self._moto.stop()

    def function_env(
        self, functions: list[str] | None = None, **variables: str | None
    ) -> AbstractContextManager[None]:
        """Change environment variables for a ``with`` block, as UpdateFunctionConfiguration
        would; ``None`` removes one. ``functions`` (logical ids): of those; None: of every
        function that has the variable (as a stack parameter update would)."""
        return self.registry.function_env(functions, **variables)

    def __enter__(self) -> "EmbeddedStack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api.port}"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    # ------------------------------------------------------------------ setup
    def _aws_environment(self) -> None:
        """AWS settings for this process (its clients, moto's interpreter) and, with the
        Powertools switches, for every function's environment."""
        aws = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.moto_port}",
        }
        os.environ.update(aws, MOTO_PORT=str(self.moto_port))  # the interpreter calls Lambda here
        os.environ.pop("AWS_PROFILE", None)
        self.function_aws_environment = {
            **aws,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
        }

    def _start_moto(self) -> None:
        import werkzeug.serving
        from moto.core.config import default_user_config

        # hundreds of concurrent clients (handlers, the interpreter) must not find the backlog full
        werkzeug.serving.BaseWSGIServer.request_queue_size = 1024
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        # urllib3 logs full URLs (with provider credentials in query strings) at DEBUG
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        moto_patches.install()
        self._moto = moto_patches.MotoServer("127.0.0.1", self.moto_port).start()

    def _client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.moto_url)

    def _name(self, logical: str) -> str:
        return resource_name(logical)

    def _create_resources(self) -> None:
        made = create_resources(self.template, self.resolver, self._client)
        self.tables, self.queues = made.tables, made.queues
        self.event_bus_name, self.state_machine_arn = made.event_bus_name, made.state_machine_arn
        self._create_secrets()

    def _create_secrets(self) -> None:
        """The secrets a deployment's operators create: the tenants' and the providers' (sandbox)."""
        r = self.resolver
        sm = self._client("secretsmanager")
        for tenant in self.tenants:
            value = {"name": tenant.name, "callback_secret": tenant.callback_secret, "display_name": tenant.display_name}
            name = r.parameters["TenantSecretPrefix"] + tenant.api_key_id
            sm.create_secret(Name=name, SecretString=json.dumps(value))
        provider_secrets = {
            "JuxinliSecretName": {"client_secret": SANDBOX_JUXINLI_SECRET},
            "ThreeFactorSecretName": {"token": SANDBOX_THREE_FACTOR_TOKEN},
            "MoxieSecretName": {"apikey": SANDBOX_MOXIE_APIKEY},
            "YuxinSecretName": {"token": SANDBOX_YUXIN_TOKEN, "aes_key": SANDBOX_YUXIN_KEY},
        }
        for parameter, value in provider_secrets.items():
            if parameter in r.parameters:
                sm.create_secret(Name=r.parameters[parameter], SecretString=json.dumps(value))

    def _load_functions(self) -> None:
        t, r = self.template, self.resolver
        self.registry = load_functions(
            t, r, self.function_aws_environment, LogRelay(self.log_stream), self.max_environments, self.function_nice,
            self.settings_log,
        )
        patch_moto_lambda(self.registry)
        events = self._client("events")
        sqs = self._client("sqs")
        queue_by_arn = {r.attrs[(q, "Arn")]: url for q, url in self.queues.items()}
        for logical, spec in resources_of(t, "AWS::Serverless::Function").items():
            for event_name, event in spec.get("Properties", {}).get("Events", {}).items():
                props = r.resolve(event.get("Properties", {}))
                if event["Type"] == "SQS":
                    self.pollers.append(
                        SqsPoller(self.registry, logical, queue_by_arn[props["Queue"]], props["Queue"],
                                  batch_size=int(props.get("BatchSize", 10)))
                    )
                elif event["Type"] in ("EventBridgeRule", "CloudWatchEvent"):
                    # moto cannot invoke a Lambda target: deliver through a queue we poll
                    name = self._name(f"{logical}-{event_name}")
                    url = sqs.create_queue(QueueName=f"{name}-target")["QueueUrl"]
                    bus = props.get("EventBusName", "default")
                    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["Pattern"]))
                    events.put_targets(Rule=name, EventBusName=bus,
                                       Targets=[{"Id": "local-lambda", "Arn": arn("sqs", f"{name}-target")}])
                    self.pollers.append(SqsPoller(self.registry, logical, url, arn("sqs", f"{name}-target"),
                                                  raw_events=True))
        self._warm()
        if self.log_stream is not None:
            self._tee_logs()

    def _warm(self) -> None:
        """One environment per function, in parallel: a handler that does not import stops
        the stack now, not its first request."""
        functions = self.registry.functions()
        with ThreadPoolExecutor(max_workers=len(functions)) as pool:
            for started in [pool.submit(fn.warm) for fn in functions]:
                started.result()

    def _tee_logs(self) -> None:
        """This process's own log lines (sandbox, receiver, runtime) into the log stream; the
        functions' output gets there through the runtime's relay."""
        plain = logging.StreamHandler(self.log_stream)
        plain.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        logging.getLogger("carrier_auth").addHandler(plain)
        logging.getLogger("carrier_auth").setLevel(logging.INFO)

    # ------------------------------------------------------------------ inspection helpers
    def table(self, logical: str = "SessionsTable") -> Any:
        return boto3.resource("dynamodb", region_name=REGION, endpoint_url=self.moto_url).Table(self.tables[logical])

    def client(self, service: str) -> Any:
        return self._client(service)
