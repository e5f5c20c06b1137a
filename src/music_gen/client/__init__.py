"""The Python SDK for a music-gen server (``from music_gen import APIClient``)."""

from ._client import APIClient, AsyncAPIClient, GenerationResult, StreamChunk, Task

__all__ = ["APIClient", "AsyncAPIClient", "GenerationResult", "StreamChunk", "Task"]
