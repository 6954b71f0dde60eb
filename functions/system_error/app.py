"""State machine Task ``SystemError`` (statemachine/definition.py): ``flow.system_error``.

The last resort of every Catch: answer 103, or DEFEAT by callback if 105 was answered.
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.system_error)
