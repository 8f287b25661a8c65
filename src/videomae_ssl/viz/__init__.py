"""Pictures for people: reconstructions, feature embeddings, probe curves."""
