"""State machine Task ``Failover`` (statemachine/definition.py): ``flow.failover``.

The provider stayed unavailable at login: hand the task to the next provider of the
deployment's chain (CarrierProviderFallback), or answer 90035 when the chain is exhausted.
"""

from carrier_auth import flow
from carrier_auth.handlers import step_function

lambda_handler = step_function(flow.failover)
