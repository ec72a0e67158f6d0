"""Scheduled detector resets over the AWS IoT Events Data API: the plan, the job, its adapters."""
