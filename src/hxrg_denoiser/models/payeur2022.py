"""The convolutional recurrent network of Payeur et al. (2022), in PyTorch.

Per science row: a sequence of ``positions`` (128) readout steps, each with
``reads x (channels + 8) x 3`` features (the ribbons of rows y-1, y, y+1) ->
bidirectional GRU (208 units each way, dropout 0.05, recurrent dropout 0.05)
-> the (positions x 416) map through three 5x5 convolutions (64, 64, 1
filters, LeakyReLU 0.1, same padding) -> GRU of 32 units -> (positions x 32)
fluxes. With the published sizes it has 15,087,489 parameters, as the Keras
original.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from hxrg_denoiser.models.config import setting

__all__ = ["Payeur2022Config", "Payeur2022", "RecurrentDropoutGRU"]


@dataclass(frozen=True)
class Payeur2022Config:
    """Sizes of the network; the defaults are the published ones.

    Attributes
    ----------
    n_reads : int
        Reads per ribbon (98).
    n_channels : int
        Output channels (32); the output has one value per channel and position.
    n_reference : int
        Reference-column values per row in the ribbon (8).
    n_rows : int
        Adjacent rows in the input (3).
    positions : int
        Readout steps per channel row (128).
    gru_units, conv_filters, out_units, kernel : int
    dropout, recurrent_dropout : float
    """

    n_reads: int = setting(98, 2, 1000)
    n_channels: int = setting(32, 1, 256)
    n_reference: int = setting(8, 0, 64)
    n_rows: int = setting(3, 3, 3)  # the ribbons stack rows y-1, y, y+1
    positions: int = setting(128, 1, 4096)
    gru_units: int = setting(208, 1, 2048)
    conv_filters: int = setting(64, 1, 1024)
    kernel: int = setting(5, 1, 15, odd=True)
    dropout: float = setting(0.05, 0.0, 0.9)
    recurrent_dropout: float = setting(0.05, 0.0, 0.9)

    @property
    def n_features(self) -> int:
        """Input features per readout step."""
        return self.n_reads * (self.n_channels + self.n_reference) * self.n_rows

    def to_dict(self) -> dict:
        return asdict(self)


class RecurrentDropoutGRU(nn.Module):
    """A GRU layer with Keras-style variational input and recurrent dropout.

    Weights are those of :class:`torch.nn.GRU` (same parameter count as a
    Keras GRU with ``reset_after=True``). Without dropout (evaluation), the
    fused ``nn.GRU`` runs; in training with dropout the recurrence is unrolled
    so that one dropout mask per sequence is applied to the hidden state.
    """

    def __init__(self, input_size: int, hidden_size: int, *, bidirectional: bool, dropout: float, recurrent_dropout: float):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout

    def _mask(self, shape: tuple[int, ...], p: float, like: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(torch.full(shape, 1.0 - p, device=like.device, dtype=like.dtype)) / (1.0 - p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, steps, features) -> (batch, steps, hidden * directions)."""
        if not self.training or (self.dropout == 0 and self.recurrent_dropout == 0):
            return self.gru(x)[0]
        if self.dropout > 0:
            x = x * self._mask((x.shape[0], 1, x.shape[2]), self.dropout, x)
        outputs = [self._unrolled(x, "")]
        if self.gru.bidirectional:
            outputs.append(self._unrolled(x.flip(1), "_reverse").flip(1))
        return torch.cat(outputs, dim=-1)

    def _unrolled(self, x: torch.Tensor, suffix: str) -> torch.Tensor:
        g = self.gru
        w_ih, w_hh = getattr(g, f"weight_ih_l0{suffix}"), getattr(g, f"weight_hh_l0{suffix}")
        b_ih, b_hh = getattr(g, f"bias_ih_l0{suffix}"), getattr(g, f"bias_hh_l0{suffix}")
        gates_x = torch.nn.functional.linear(x, w_ih, b_ih)  # all steps at once: the heavy product
        batch, steps, _ = x.shape
        hidden = x.new_zeros(batch, g.hidden_size)
        mask = self._mask((batch, g.hidden_size), self.recurrent_dropout, x) if self.recurrent_dropout > 0 else None
        outputs = []
        for t in range(steps):
            h_in = hidden * mask if mask is not None else hidden
            gates_h = torch.nn.functional.linear(h_in, w_hh, b_hh)
            r_x, z_x, n_x = gates_x[:, t].chunk(3, dim=-1)
            r_h, z_h, n_h = gates_h.chunk(3, dim=-1)
            r = torch.sigmoid(r_x + r_h)
            z = torch.sigmoid(z_x + z_h)
            n = torch.tanh(n_x + r * n_h)
            hidden = (1 - z) * n + z * hidden
            outputs.append(hidden)
        return torch.stack(outputs, dim=1)


class Payeur2022(nn.Module):
    """Convolutional recurrent network of Payeur et al. (2022).

    Input ``(batch, positions, n_features)`` (already scaled by 1/90), output
    ``(batch, positions, n_channels)`` (scaled flux: multiply by 60).
    """

    input_kind = "ribbons"  # takes the reads as ribbons (see hxrg_denoiser.denoise)

    def __init__(self, config: Payeur2022Config | None = None) -> None:
        super().__init__()
        self.config = config = config or Payeur2022Config()
        self.encoder = RecurrentDropoutGRU(
            config.n_features, config.gru_units, bidirectional=True,
            dropout=config.dropout, recurrent_dropout=config.recurrent_dropout,
        )
        pad = config.kernel // 2
        self.convolutions = nn.Sequential(
            nn.Conv2d(1, config.conv_filters, config.kernel, padding=pad),
            nn.LeakyReLU(0.1),
            nn.Conv2d(config.conv_filters, config.conv_filters, config.kernel, padding=pad),
            nn.LeakyReLU(0.1),
            nn.Conv2d(config.conv_filters, 1, config.kernel, padding=pad),
            nn.LeakyReLU(0.1),
        )
        # faster convolutions on CPU (oneDNN) and GPU
        self.convolutions.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.decoder = nn.GRU(2 * config.gru_units, config.n_channels, batch_first=True)

    def forward(self, ribbons: torch.Tensor) -> torch.Tensor:
        encoded = self.encoder(ribbons)  # (batch, positions, 2 * units)
        image = encoded.unsqueeze(1).contiguous(memory_format=torch.channels_last)
        mapped = self.convolutions(image).squeeze(1)  # conv over the (positions x 2 units) map
        return self.decoder(mapped)[0]
