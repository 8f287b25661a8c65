"""Checkpoint formats: ours, the original VideoMAE layout and Hugging Face transformers."""
