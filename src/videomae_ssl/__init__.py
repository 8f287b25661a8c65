"""VideoMAE self-supervised video pretraining."""
