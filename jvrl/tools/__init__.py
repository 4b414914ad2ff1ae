"""Command-line tools that inspect jvrl models (run with `python -m jvrl.tools.<name>`)."""
