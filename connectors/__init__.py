"""Connectors through which agency systems publish events: HTTP, file drop, outbox, SDK.

Every connector goes through one ingest path (``connectors.ingest``): the contracts'
validation, the Avro codec, and one kafka-python producer configuration.
"""

from connectors.sdk import Publisher, RejectedEventError

__all__ = ["Publisher", "RejectedEventError"]
