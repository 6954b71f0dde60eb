"""Carrier Auth Gateway (运营商认证网关): the package shared by every function (the common layer)."""

import logging

# urllib3 logs whole request URLs at DEBUG, and some provider calls carry credentials in the
# query string: keep it quiet whatever log level a deployment chooses.
logging.getLogger("urllib3").setLevel(logging.WARNING)
