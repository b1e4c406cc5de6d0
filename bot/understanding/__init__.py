"""Understanding a debtor's message without Rasa: text segmentation for mixed Chinese and English,
the sentence encoder, and the intent model over its embeddings (used by the NLU components in
``policies/`` and by the evaluation scripts)."""
