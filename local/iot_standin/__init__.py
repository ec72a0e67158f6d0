"""Local stand-in for the AWS IoT APIs the bridge calls that no emulator offers in a form tests can read.

AWS IoT managed integrations `SendConnectorEvent`, AWS IoT Events Data (`BatchPutMessage`,
`BatchUpdateDetector`, `ListDetectors`, `DescribeDetector`) and AWS IoT Core's `Publish`, over their real
REST-JSON wire protocol, with injected faults and an inspection API. See README.md in this folder.
"""
