"""The connector's domain: the invocation models and the four operations. No AWS SDK."""
