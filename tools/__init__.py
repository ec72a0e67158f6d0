"""Developer tools: they write files the project commits, and none of them ships in the Lambda layer."""
