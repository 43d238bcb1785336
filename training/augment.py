"""Spacing noise: a fresh copy of each training batch with its word spacing perturbed.

Korean is spaced loosely in chat and reviews alike (좋아요진짜 / 좋 아 요), and a network
over syllables that steps over a space token before each word
(`SyllableTokenizer(spaces=True)`, the `student-lstm` configuration) learns the spacing it
saw. Each epoch drops some of a text's spaces and inserts others, on the id matrix of the
batch, so the copies cost no tokenising and no labelling: a copy
keeps its text's target (a label, or the teacher's probability of the text as written),
since spacing seldom changes what a message means. Measured on that student and left off
(`ModelConfig.spacing_noise`): it gained on unspaced reviews and lost more elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nlp.model_config import ModelConfig
from nlp.vocabulary import PAD_ID

# Korean words run 2-4 syllables, so a text has about twice as many boundaries inside
# words as spaces: inserting at a third of the dropping rate keeps the spaces about as
# many as they were.
INSERT_FRACTION = 1 / 3


@dataclass
class SpacingNoise:
    space_id: int
    rate: float  # the chance that a space is dropped; spaces are inserted at a third of it
    max_tokens: int  # what the tokeniser keeps of a text: a copy is cut to it as well
    rng: np.random.Generator

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        """A post-padded (rows, width) id matrix -> the same texts respaced, post-padded.

        A space is never inserted first, last or beside another space, so a copy is a text
        the tokeniser could have produced."""
        tokens = matrix != PAD_ID
        spaces = matrix == self.space_id
        follows = np.zeros_like(tokens)  # a token that is not a space follows this one
        follows[:, :-1] = tokens[:, 1:] & ~spaces[:, 1:]
        draws = self.rng.random(matrix.shape)
        keep = tokens & ~(spaces & (draws < self.rate))
        insert_after = tokens & ~spaces & follows & (draws < self.rate * INSERT_FRACTION)
        # Each position writes [its token if kept, a space if one is inserted after it].
        pairs = np.stack([matrix, np.full_like(matrix, self.space_id)], axis=-1)
        chosen = np.stack([keep, insert_after], axis=-1)
        lengths = np.minimum(chosen.sum(axis=(1, 2)), self.max_tokens)
        width = max(1, int(lengths.max(initial=0)))
        out = np.full((len(matrix), width), PAD_ID, dtype=matrix.dtype)
        for row, length in enumerate(lengths):
            out[row, :length] = pairs[row][chosen[row]][:length]
        return out


def spacing_noise_for(config: ModelConfig, space_id: int | None, seed: int) -> SpacingNoise | None:
    """The noise a configuration asks for, or None; only a tokeniser that writes spaces
    as tokens can be respaced on ids."""
    if not config.spacing_noise:
        return None
    if not config.tokenizer.get("spaces") or space_id is None:
        raise ValueError("spacing_noise needs a tokenizer that writes spaces as tokens")
    return SpacingNoise(
        space_id, config.spacing_noise, config.max_tokens, np.random.default_rng(seed)
    )
