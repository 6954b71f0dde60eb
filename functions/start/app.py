"""POST /carrier/auth: start a carrier authentication (seed 000 魔蝎运营商认证接口)."""

from carrier_auth import facade
from carrier_auth.handlers import api_function

lambda_handler = api_function("startCarrierAuth", facade.start, metric="TaskStartRequested")
