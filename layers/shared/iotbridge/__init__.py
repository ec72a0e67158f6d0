"""The bridge's shared layer.

Its root modules are what more than one function uses (wire models, settings reading, the AWS client factory,
errors, Smithy traits, the queued-event format); `receiver`, `forwarder` and `reset` are one package per
function, each with the same parts (see the README's "Layout").
"""
