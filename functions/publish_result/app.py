"""State machine Task ``Finish`` (statemachine/definition.py): ``flow.publish_result``.

Mark a 105'd task SUCCESS / DEFEAT (once) and publish CarrierAuthFinished on the bus
(EventBridge -> SQS -> the callback function).
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.publish_result)
