"""Every test double of the suite, in one place: in-memory fakes that keep state and fail the way the
services do (never mock objects that only answer what a test told them)."""
