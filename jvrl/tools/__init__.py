"""Command-line tools around jvrl models (run with `python -m jvrl.tools.<name>`): inspect
them (`model_summary`), convert published weights (`convert_torchvision`)."""
