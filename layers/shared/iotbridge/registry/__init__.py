"""A connector's configuration, read by name and cached: its profile (an SSM parameter) and its secrets
(Secrets Manager), under one budget of lookups of what is not cached.

Used by the webhook receiver (the signing secret and profile of the connector a webhook is for) and by the
connector function (the profile's device cloud, and the secret its outbound webhooks are signed with). Each
adapter takes a botocore client and is the only code that sees that client's errors: they become
DependencyUnavailableError.

- `cache`: `LookupBudget`, `ExpiringCache`, and `CachedByName`, the base of every adapter here.
- `secrets`: `SecretsManagerSigningKeys`, and `read_secret`, the one reading of Secrets Manager's answers.
- `profiles`: `SsmConnectorProfiles`.
"""
