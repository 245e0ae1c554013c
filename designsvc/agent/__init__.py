"""The spec-writing agent: a conversation in, a valid spec of a registered problem kind out.

Modules (import them directly; this package imports nothing):

- :mod:`designsvc.agent.forms`: the JSON Schemas the model fills (the kind, then the kind's
  draft), grounded in the conversation, and the spec assembled from a draft;
- :mod:`designsvc.agent.turn`: one turn as a job (runs where jobs run, with the model backend
  loaded through the ``designsvc.agent_backends`` registry);
- :mod:`designsvc.agent.sessions`: sessions, turns and the user's confirmation, which alone
  submits a design job; sessions are records in the job store (they outlive a restart of the
  API) and belong to a tenant.

Why turns are jobs: the model (torch) must stay out of the API process; jobs already run in
worker processes (Celery gpu workers, or the embedded process pool) and their events already
stream over SSE with Last-Event-ID resume, so an agent turn is a job whose events are the
streamed tokens and whose result is the new draft, spec and reply.

How decoding is constrained: ``surrogates.llm.constrained.JsonSchemaDecoder`` (our own; no
structured-generation library is installed here) walks each form's JSON Schema, forces the
JSON structure and lets the model pick, greedily, only tokens that keep each value inside its
schema (enum tries, bounded digits, safe string tokens), so every emitted form parses and
validates; the spec built from it is then checked by the service's own validation.
"""

__all__: list[str] = []
