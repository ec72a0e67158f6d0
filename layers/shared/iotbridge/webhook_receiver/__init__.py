"""The webhook receiver: a signed device-cloud webhook in, its events queued durably, an answer out.

Parts, the same for every function: `events` (the Lambda event in, the response out), `domain` (no AWS
SDK), `ports` (what the domain needs, as Protocols), `adapters` (one class per AWS API), `settings` and
`wiring` (the composition root, built at init).
"""
