"""The receiver's domain: plain code over the ports, no AWS SDK."""
