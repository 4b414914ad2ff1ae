"""Text for multimodal objectives (VATT): word-level tokenizer and vocabularies."""
