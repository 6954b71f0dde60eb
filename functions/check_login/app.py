"""State machine Task ``CarrierCheck`` (statemachine/definition.py): ``flow.check_login``.

Where an asynchronous provider's (Moxie) login stands: still working, input needed,
collecting or failed.
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.check_login)
