"""Lexical overlap between an answer and its reference: ROUGE-L F1 and METEOR.

ROUGE-L comes from the ``rouge-score`` package (Porter stemmer on). METEOR comes from NLTK's
``meteor_score`` with WordNet synonym matching; text is lower-cased and split with ``wordpunct_tokenize``,
which needs no downloaded tokenizer data. WordNet itself must be installed (see :mod:`qvedbench.resources`).
"""
from __future__ import annotations

from functools import lru_cache

from nltk.tokenize import wordpunct_tokenize

from qvedbench.resources import require_wordnet


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens."""
    return wordpunct_tokenize(text.lower())


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 of ``prediction`` against ``reference``, in [0, 1]."""
    return float(_rouge_scorer().score(reference, prediction)["rougeL"].fmeasure)


@lru_cache(maxsize=1)
def _wordnet():
    require_wordnet()
    from nltk.corpus import wordnet

    wordnet.ensure_loaded()
    return wordnet


def meteor(prediction: str, reference: str) -> float:
    """METEOR of ``prediction`` against the single ``reference``, in [0, 1].

    Raises :class:`qvedbench.resources.WordNetMissingError` (with install instructions) without WordNet.
    """
    from nltk.translate.meteor_score import meteor_score

    return float(meteor_score([tokenize(reference)], tokenize(prediction), wordnet=_wordnet()))
