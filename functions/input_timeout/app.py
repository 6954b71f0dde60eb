"""State machine Task ``InputTimedOut`` (statemachine/definition.py): ``flow.input_timeout``.

No input within InputTimeoutSeconds: answer 104 / 90032 and forget the task token.
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.input_timeout)
