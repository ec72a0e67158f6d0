"""The reset job's domain: plans, the job, its counts and report. No AWS SDK."""
