"""What runs the jobs: the worker loop, the in-process backends and the Ray backend with its
Serve replica.
"""
