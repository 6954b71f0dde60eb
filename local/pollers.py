"""SQS -> Lambda, the way the Lambda service's event source mapping does it.

Also used for EventBridge rules whose target is a Lambda function: moto cannot invoke Lambda
targets, so the local stack points such rules at an internal queue and this poller invokes
the function with the event, as EventBridge's asynchronous invoke would.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import boto3

from .runtime import FunctionError, FunctionRegistry
from .template import REGION

log = logging.getLogger("carrier_auth.local")


class SqsPoller:
    def __init__(
        self,
        registry: FunctionRegistry,
        function: str,
        queue_url: str,
        queue_arn: str,
        batch_size: int = 10,
        raw_events: bool = False,
    ) -> None:
        self.registry = registry
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self.raw_events = raw_events  # True: each message body is the function's event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{function}", daemon=True)
        self._sqs = boto3.client("sqs")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current poll (``join`` waits for it): stop them all, then join."""
        self._stop.set()

    def join(self) -> None:
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # keep polling, as the service does
                log.exception("poller %s failed", self.function)
                self._stop.wait(0.5)

    def poll_once(self, wait_seconds: int = 0) -> int:
        resp = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        if self.raw_events:
            for message in messages:
                try:
                    self.registry.invoke(self.function, json.loads(message["Body"]))
                except FunctionError as exc:
                    log.warning("async invoke of %s failed: %s", self.function, exc.error_type)
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            return len(messages)
        event = {"Records": [self._record(m) for m in messages]}
        try:
            result: Any = self.registry.invoke(self.function, event) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except FunctionError as exc:  # an exception, a timeout or a crash: nothing was processed for sure
            log.warning("%s failed (%s): the whole batch returns to the queue", self.function, exc.error_type)
            return len(messages)
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(messages)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }
