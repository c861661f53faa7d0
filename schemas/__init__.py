"""The backbone's contracts: Avro schemas, their pydantic faces, the codec and topics.

This package depends on nothing else of ours; everything else depends on it.
"""
