"""Follow-up commands on a job's records: ``results``, ``retry-failed`` and ``estimate``.

``joined`` reads a job's inputs beside its outputs, in input order; ``results`` writes them as
one JSON line per record, ``retry`` turns the failed ones into a new job. ``estimate`` counts an
input's records and tokens with the model's own tokenizer (``tokens``), before any job runs, and
``throughput`` says how fast the server's recent jobs of the same backend model went. Storage is
reached through ``storage.base.ObjectStore`` and the server through a botocore Bedrock client,
both handed in by the caller.
"""
