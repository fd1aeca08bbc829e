"""Coverage-guided fuzzing of the request parser and every codec (``python -m bench.fuzz``)."""
