"""AWS IoT managed integrations' `SendConnectorEvent`: its four operations, the request body's wire models
and their problems, the Smithy traits that say what AWS accepts, and the form an accepted event takes on the
queue.

Nothing is imported here, so that a module can name an operation (`operations`) without loading pydantic."""
