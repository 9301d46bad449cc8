"""What runs on a rented GPU node: an LLM inference benchmark in standard-library Python.

`bench.py` is the entry point (`python3 bench.py --model M ...`); see README.md. Nothing
here imports a third-party package, so the folder can be uploaded over SFTP and run with
the node's own `python3` (3.8 or newer).
"""

SCHEMA_VERSION = 1
