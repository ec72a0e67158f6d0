"""The connector function: managed integrations' AWS.* operations in, the device cloud asked, an answer out;
and, on a schedule, the sweep that counts the requests never answered.

Parts, the same for every function: `events`, `domain`, `ports`, `adapters`, `settings`, `wiring`.
"""
