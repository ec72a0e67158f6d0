"""Local stand-in for the two AWS APIs the bridge calls and no emulator offers.

AWS IoT managed integrations `SendConnectorEvent` and AWS IoT Events Data (`BatchPutMessage`,
`BatchUpdateDetector`, `ListDetectors`, `DescribeDetector`), over their real REST-JSON wire protocol,
with injected faults and an inspection API. See README.md in this folder.
"""
