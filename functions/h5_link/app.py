"""POST /carrier/auth/h5: a hosted H5 authorization page for one user -> {h5_url, expires_at}."""

from carrier_auth import h5
from carrier_auth.handlers import api_function

lambda_handler = api_function("createH5Link", h5.create_link, metric="H5LinkRequested", with_event=True)
