"""batchrock: a self-hosted batch inference service that speaks the Bedrock model invocation job API."""

__version__ = "0.1.0"
