"""Run the bridge on one machine without AWS: local servers, the stack runner and the demo."""
