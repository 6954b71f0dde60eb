"""State machine Task ``CarrierInput`` (statemachine/definition.py): ``flow.send_input``.

The app's SMS / captcha code or resend request, sent upstream once per entry of the state
(a retry never repeats it); parks the token again when the provider asks for more input.
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.send_input)
