"""Gateway-side enforcement of throttle commands in Redis.

- ``intake``: decode, authenticate (HMAC) and validate ``sms.throttle`` records.
- ``store``: ``ThrottleStore.apply(command)`` materialises one command atomically (``apply.lua``).
- ``admission``: ``AdmissionClient.check(...)`` runs ``admission.lua`` before each send.
- ``enforcer``: the thin Kafka loop that feeds verified commands to the store.
"""
