"""The state machine's definition: ``definition.py`` generates ``carrier_auth.asl.json``."""
