"""``readout-set``: a small network that removes correlated read noise from a flux image, channel by channel.

The flux image (reference-corrected up-the-ramp, any number of reads) is put
in readout order, shape ``(channels, rows, positions)``: each output channel's
block of columns, flipped where the butterfly readout runs backwards, so
that the same ``(row, position)`` in every channel was read at the same
instant. The network treats the channels as a *set*: every layer applies the
same small 2D convolution over ``(rows, positions)`` to each channel and adds
a term computed from the mean over channels of the previous features, which
is how noise shared by all channels at one instant (common 1/f noise,
picture frame) is seen. The layers have dilations along rows, so a lit
echelle order is bridged by the rows around it. A *context* branch (two
small layers on the inputs, averaged over the whole image) gives every layer
a few numbers that describe the exposure as a whole, from which an offset
shared by the whole image (the part of the picture-frame noise the reference
pixels over-correct) can be told from the scene's own background. Nothing
depends on the number of channels or rows.

Input features (per pixel): the image and the classical cleaning's estimate
of its correlated noise (:func:`~hxrg_denoiser.classical.cleaning.clean_flux_image`),
both divided by the image's own noise level (robust sigma of pixel
differences) and clipped, a softly compressed copy of the image for bright
sources, and a reference-pixel mask. Output: a correction to the cleaning's
estimate, in the same noise units. A network with all output weights zero is
therefore the classical cleaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hxrg_denoiser.models.config import setting

__all__ = ["ReadoutSetConfig", "ReadoutSetNet", "N_FEATURES"]

N_FEATURES = 4  # clipped image, cleaning estimate, compressed image, reference mask


@dataclass
class ReadoutSetConfig:
    """Layer sizes of :class:`ReadoutSetNet`.

    Attributes
    ----------
    features : int
        Feature maps per channel in every hidden layer.
    row_dilations : list of int
        One layer per entry, with this dilation along rows.
    kernel : list of int
        Kernel ``(rows, positions)`` of every layer.
    clip : float
        Input features in noise units are clipped to +/- this.
    context : int
        Numbers computed from the whole image and given to every layer (0: none).
    """

    features: int = setting(16, 1, 512)
    context: int = setting(8, 0, 256)
    row_dilations: list[int] = setting([1, 2, 4, 8, 1], 1, 256)
    kernel: list[int] = setting([3, 5], 1, 15, odd=True, length=2)
    clip: float = setting(8.0, 0.5, 1000.0)

    @property
    def row_reach(self) -> int:
        """Rows each side that influence one output pixel (the halo a strip needs)."""
        return sum(d * (self.kernel[0] // 2) for d in self.row_dilations)


class ChannelSetLayer(nn.Module):
    """One layer: the same 2D convolution on every channel, a linear map of the mean over channels and of the context."""

    def __init__(self, f_in: int, f_out: int, kernel: tuple[int, int], row_dilation: int, context: int) -> None:
        super().__init__()
        padding = (row_dilation * (kernel[0] // 2), kernel[1] // 2)
        self.local = nn.Conv2d(f_in, f_out, kernel, padding=padding, dilation=(row_dilation, 1))
        self.shared = nn.Conv2d(f_in, f_out, 1, bias=False)
        self.from_context = nn.Linear(context, f_out, bias=False) if context else None
        self.act = nn.LeakyReLU(0.1)

    def forward(self, h: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """``h``: ``(batch, channels, features, rows, positions)``; ``context``: ``(batch, context)``."""
        b, c, f, r, p = h.shape
        local = self.local(h.reshape(b * c, f, r, p))
        shared = self.shared(h.mean(dim=1))
        if self.from_context is not None and context is not None:
            shared = shared + self.from_context(context.to(shared.dtype))[:, :, None, None]
        return self.act(local.reshape(b, c, -1, r, p) + shared[:, None])


class ContextBranch(nn.Module):
    """Per-pixel features of the inputs, to be averaged over the whole image."""

    def __init__(self, size: int, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.first = nn.Conv2d(N_FEATURES, size, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        self.second = nn.Conv2d(size, size, 1)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Per-pixel context features, shape ``(batch, channels, size, rows, positions)``."""
        b, c, f, r, p = features.shape
        h = self.act(self.second(self.act(self.first(features.reshape(b * c, f, r, p)))))
        return h.reshape(b, c, -1, r, p)


class ReadoutSetNet(nn.Module):
    """Correction to the cleaning's noise estimate, shape ``(batch, channels, rows, positions)``.

    Parameters
    ----------
    config : ReadoutSetConfig
    """

    input_kind = "flux-image"  # takes a reference-corrected up-the-ramp image (see hxrg_denoiser.denoise)

    def __init__(self, config: ReadoutSetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ReadoutSetConfig()
        cfg = self.config
        kernel = (cfg.kernel[0], cfg.kernel[1])
        layers, f_in = [], N_FEATURES
        for d in cfg.row_dilations:
            layers.append(ChannelSetLayer(f_in, cfg.features, kernel, d, cfg.context))
            f_in = cfg.features
        self.layers = nn.ModuleList(layers)
        self.context = ContextBranch(cfg.context, kernel) if cfg.context else None
        self.head = nn.Conv2d(cfg.features, 1, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)  # type: ignore[arg-type]  # Conv2d has a bias here

    @property
    def context_reach(self) -> int:
        """Rows each side the context branch looks at."""
        return self.config.kernel[0] // 2

    def context_sum(self, features: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """Context features summed over channels, positions and the given ``rows``, shape ``(batch, context)``.

        Summing strips (each computed with :attr:`context_reach` rows of halo)
        and dividing by the pixel count gives the context of a whole image.
        """
        if self.context is None:
            return torch.zeros(features.shape[0], 0)
        return self.context(features)[:, :, :, rows].float().sum(dim=(1, 3, 4))

    def forward(self, features: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Predicted correction, ``(batch, channels, rows, positions)``.

        Parameters
        ----------
        features : Tensor, shape (batch, channels, N_FEATURES, rows, positions)
        context : Tensor, shape (batch, context), optional
            The context of the whole image (:meth:`context_sum` / pixels); by
            default computed from ``features`` themselves.
        """
        if context is None and self.context is not None:
            b, c, _, r, p = features.shape
            context = self.context_sum(features) / float(c * r * p)
        h = features
        for layer in self.layers:
            h = layer(h, context)
        b, c, f, r, p = h.shape
        return self.head(h.reshape(b * c, f, r, p)).reshape(b, c, r, p)
