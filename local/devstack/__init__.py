"""Embedded local stack: moto S3 over HTTP, the daemon, the Lambda handler and the page."""
