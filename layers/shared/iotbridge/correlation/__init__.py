"""What the connector function asked of a device cloud and whether the relay saw it answered: the entries'
model (`model`) and the connector's two DynamoDB tables (`tables`)."""
