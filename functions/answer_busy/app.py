"""State machine Task ``UpstreamBusy`` (statemachine/definition.py): ``flow.answer_busy``.

The provider stayed unavailable for the app's input: answer 90035 and keep the task waiting
for the app to try again (no upstream call).
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.answer_busy)
