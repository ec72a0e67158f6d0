"""Sample data shared by the tests, the local stack and the benchmarks: the demo connector and its webhooks
(`samples.webhooks`) and the two demo device clouds with their profiles (`samples.device_clouds`)."""
