"""Sample data shared by the tests, the local stack and the benchmarks: the demo connector and its webhooks
(`samples.webhooks`), the two demo device clouds with their profiles (`samples.device_clouds`), and real
device clouds (`samples.real_clouds`) with a signer each, written from the cloud's documentation
(`samples.smartthings`, `samples.google_nest`, ...)."""
