"""Training samples built on the fly from dark ramps and scenes, no intermediate files.

A sample is one science row ``y`` of one dark: the dark's rows ``y - 1 ..
y + 1`` (with the reference-correction halo) are read, a scene row band is
*placed* on them (a random band of the scene, so darks and scenes mix freely)
and accumulated read by read as Poisson(scene / reads), the reference
correction is applied, and the ribbons of the three rows become the input;
the scene row, in readout order, is the label.

Rows are split between training and validation by blocks of 16 rows (every
eighth block is validation) and, with two darks or more, by dark (the last
dark is validation only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hxrg_denoiser.errors import RampInputError, UsageError
from hxrg_denoiser.geometry import ReadoutGeometry
from hxrg_denoiser.io.ramps import Ramp
from hxrg_denoiser.models.payeur2022_ribbons import label_rows, row_ribbons, stack_neighbours
from hxrg_denoiser.simulate.injection import accumulate_scene
from hxrg_denoiser.strips import StripStream

__all__ = ["RibbonSampler", "split_rows", "Batch"]

_BLOCK = 16


@dataclass
class Batch:
    """Network inputs ``(batch, positions, features)`` and labels ``(batch, positions, channels)``, float32."""

    inputs: np.ndarray
    labels: np.ndarray


def split_rows(geometry: ReadoutGeometry) -> dict[str, np.ndarray]:
    """Science rows with both neighbours, split into ``train`` and ``validation`` by 16-row blocks."""
    rows = np.arange(geometry.science_rows.start, geometry.science_rows.stop)
    rows = rows[(rows >= 1) & (rows <= geometry.n_rows - 2)]
    validation = (rows // _BLOCK) % 8 == 7
    if not validation.any() or validation.all():  # tiny arrays: last quarter of the rows
        validation = rows >= rows[int(len(rows) * 0.75)]
    return {"train": rows[~validation], "validation": rows[validation]}


class RibbonSampler:
    """Draw training and validation samples from darks and scenes.

    Parameters
    ----------
    darks : list of Ramp
        Dark ramps (any supported input; they are read band by band).
    scenes : list of ndarray
        Expected electrons over the ramp, each of the darks' image shape.
    geometry : ReadoutGeometry
    n_reads : int
        Reads per ribbon (the first ones).
    refcorr : str
        Reference correction applied before the ribbons.
    input_scale, label_scale : float
    """

    def __init__(
        self,
        darks: list[Ramp],
        scenes: list[np.ndarray],
        geometry: ReadoutGeometry,
        *,
        n_reads: int,
        refcorr: str = "seed",
        input_scale: float = 1 / 90,
        label_scale: float = 1 / 60,
    ) -> None:
        if not darks or not scenes:
            raise UsageError("training needs at least one dark and one scene")
        for dark in darks:
            if dark.n_reads < n_reads:
                raise RampInputError(f"{dark.path}: {dark.n_reads} reads, the model takes {n_reads}")
        self.geometry = geometry
        self.darks = darks
        self.streams = [StripStream(d, geometry, refcorr=refcorr) for d in darks]
        self.scenes = scenes
        self.n_reads = n_reads
        self.input_scale = input_scale
        self.label_scale = label_scale
        self.rows = split_rows(geometry)
        self.dark_split = {
            "train": list(range(max(1, len(darks) - 1))),
            "validation": [len(darks) - 1] if len(darks) > 1 else [0],
        }

    def sample(self, rng: np.random.Generator, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """One sample: input ``(positions, features)`` and label ``(positions, channels)``."""
        d = self.dark_split[split][rng.integers(len(self.dark_split[split]))]
        y = int(self.rows[split][rng.integers(len(self.rows[split]))])
        scene = self.scenes[rng.integers(len(self.scenes))]
        scene_rows = self.rows["train" if split == "train" else "validation"]
        ys = int(scene_rows[rng.integers(len(scene_rows))])  # where the scene band is taken from
        stream = self.streams[d]
        band = stream.band(y - 1, y + 2)
        raw = self.darks[d].read_rows(band.halo_start, band.halo_stop)
        placed = np.zeros((band.halo_stop - band.halo_start, self.geometry.n_cols), dtype=np.float32)
        placed[band.core] = scene[ys - 1 : ys + 2]
        placed[self.geometry.reference_mask[band.halo_start : band.halo_stop]] = 0.0  # reference pixels see no light
        raw += accumulate_scene(placed, raw.shape[0], int(rng.integers(2**31)), band.halo_start)
        electrons = stream.correct(raw, band)
        ribbons = row_ribbons(electrons, self.geometry, self.n_reads)
        inputs = stack_neighbours(ribbons, np.array([1]), self.input_scale)[0]
        labels = label_rows(scene[ys : ys + 1], self.geometry, self.label_scale)[0]
        return inputs, labels

    def batch(self, rng: np.random.Generator, size: int, split: str = "train") -> Batch:
        """``size`` samples stacked."""
        pairs = [self.sample(rng, split) for _ in range(size)]
        return Batch(np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]))
