"""The forwarder: queued connector events from the SQS FIFO queue to AWS IoT managed integrations.

Parts, the same for every function: `events`, `domain`, `ports`, `adapters`, `settings`, `wiring`.
"""
