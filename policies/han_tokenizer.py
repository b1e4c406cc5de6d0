"""NLU tokenizer: spaCy's tokens, with every token that holds Chinese cut into words by jieba.

The English spaCy model keeps a run of Han characters as one token ("我下个月才能还款"); Rasa's own
``JiebaTokenizer`` accepts only ``language: zh`` and keeps spaces as tokens in mixed text. This
keeps spaCy for everything else (its document also gives the spaCy entities) and segments
the Han runs inside a token (:func:`bot.understanding.text.split_han`), so one pipeline reads both
languages.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.shared.nlu.training_data.message import Message

from bot.understanding.text import HAN, split_han


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SpacyJiebaTokenizer(SpacyTokenizer):
    """spaCy tokens; Han runs inside them segmented with jieba (same config as SpacyTokenizer)."""

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """spaCy's tokens of ``attribute``, Chinese ones split into words (offsets kept)."""
        out: list[Token] = []
        for token in super().tokenize(message, attribute):
            if not HAN.search(token.text):
                out.append(token)
                continue
            for piece, start, end in split_han(token.text, token.start):
                if piece.strip():
                    out.append(Token(piece, start, end, data=dict(token.data or {}), lemma=piece))
        return out
