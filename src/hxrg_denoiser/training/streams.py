"""Keys of the random streams training draws from one seed: ``numpy.random.default_rng([seed, key, ...])``.

Each use has a key of its own, so that no two draws of one run (or of one example) share a stream.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Stream"]


class Stream(IntEnum):
    """What each stream draws."""

    EXAMPLES = 7  # the first recipe's example descriptions (noise, scene, reads)
    RANDOMIZED_EXAMPLES = 11  # the randomised recipe's example descriptions
    DARK_EXAMPLES = 13  # the scenes put on the user's darks
    SKY = 17  # a smooth background of an example
    COPIES = 19  # an example's scene-scaled and sky copies (was 11, the stream of the randomised descriptions)
    SCENE_EXAMPLES = 23  # the scenes recipe's example descriptions (noise, scene, detector effects, reads)
    VALIDATION = 7919  # payeur2022: the validation samples
