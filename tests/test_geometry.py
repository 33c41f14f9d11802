import numpy as np
import pytest

from hxrg_denoiser.errors import GeometryError
from hxrg_denoiser.geometry import PRESETS, ReadoutGeometry, geometry_for_shape, preset

ALL_GEOMETRIES = list(PRESETS.values()) + [
    preset("nirps-h4rg", n_rows=512),
    ReadoutGeometry("custom", 128, 128, 4),
    ReadoutGeometry("custom-nobf", 64, 96, 3, butterfly=False),
]


@pytest.mark.parametrize("geometry", ALL_GEOMETRIES, ids=lambda g: f"{g.name}-{g.n_rows}")
def test_readout_order_round_trips_exactly(geometry):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(2, 3, geometry.n_cols)).astype(np.float32)
    readout = geometry.to_readout_order(image)
    assert readout.shape == (2, 3, geometry.n_channels, geometry.channel_width)
    np.testing.assert_array_equal(geometry.to_image_order(readout), image)
    columns = geometry.to_readout_order(np.arange(geometry.n_cols))
    assert sorted(columns.ravel()) == list(range(geometry.n_cols))  # every column read once


def test_butterfly_puts_simultaneous_pixels_together():
    g = preset("nirps-h4rg")
    index = g.to_readout_order(np.arange(g.n_cols))  # the column read at each (channel, step)
    # channel 0 is read left to right, channel 1 right to left
    assert index[0, 0] == 0 and index[0, -1] == 127
    assert index[1, 0] == 255 and index[1, -1] == 128
    assert index[31, 0] == 4095
    image = np.arange(g.n_cols)[None, :]
    assert g.to_readout_order(image)[0, 2, 5] == 256 + 5


def test_no_butterfly_is_plain_reshape():
    g = ReadoutGeometry("plain", 16, 32, 4, butterfly=False)
    image = np.arange(32)
    np.testing.assert_array_equal(g.to_readout_order(image), image.reshape(4, 8))


def test_frame_time_and_reference_mask():
    g = preset("nirps-h4rg")
    assert g.frame_time == pytest.approx(5.57, abs=0.01)
    assert preset("jwst-h2rg").frame_time == pytest.approx(10.737, abs=0.01)
    mask = g.reference_mask
    assert mask.sum() == 4096 * 4096 - 4088 * 4088
    assert mask[4, 3] and not mask[4, 4] and mask[4092, 100]


def test_json_round_trip():
    g = preset("h2rg-32", n_rows=256)
    assert ReadoutGeometry.from_dict(g.to_dict()) == g


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_rows": 64, "n_cols": 100, "n_channels": 32}, "100 columns do not divide into 32 channels"),
        ({"n_rows": 8, "n_cols": 64, "n_channels": 4}, "leaves no science pixels"),
        ({"n_rows": 64, "n_cols": 64, "n_channels": 0}, "n_channels must be a positive integer"),
    ],
)
def test_bad_geometry_is_refused(kwargs, match):
    with pytest.raises(GeometryError, match=match):
        ReadoutGeometry("bad", **kwargs)


def test_geometry_for_shape():
    assert geometry_for_shape((4096, 4096)).name == "nirps-h4rg"
    strip = geometry_for_shape((256, 4096), name="nirps-h4rg")
    assert strip.n_rows == 256 and strip.n_channels == 32
    custom = geometry_for_shape((128, 128), n_channels=4, butterfly=False)
    assert custom.channel_width == 32 and not custom.butterfly
    with pytest.raises(GeometryError, match="cube.fits: reads are 256 x 2048 but geometry 'nirps-h4rg'"):
        geometry_for_shape((256, 2048), name="nirps-h4rg", source="cube.fits")
    with pytest.raises(GeometryError, match="no single preset matches 2048 x 2048"):
        geometry_for_shape((2048, 2048))
    with pytest.raises(GeometryError, match="unknown geometry preset 'h9rg'"):
        geometry_for_shape((2048, 2048), name="h9rg")


def test_channel_streams_follow_each_channels_readout_time():
    from hxrg_denoiser.geometry import channel_streams, rows_first

    geometry = ReadoutGeometry("t", 12, 64, 4)
    rows, positions = np.arange(12)[:, None], np.arange(16)[None, :]
    read_times = (rows * (16 + geometry.row_overhead) + positions) * geometry.pixel_time  # seconds into the frame
    steps = np.broadcast_to(read_times[:, None, :], (12, 4, 16))  # same instant in every channel
    times = steps + np.arange(4)[None, :, None] * 1e3  # tell the channels apart
    streams = channel_streams(times)
    assert streams.shape == (4, 12, 16)
    for channel in streams.reshape(4, -1):
        assert np.all(np.diff(channel) > 0)  # each channel's pixels in the order it read them
    np.testing.assert_array_equal(rows_first(streams), times)


def test_a_file_that_names_its_preset_needs_no_geometry_option(tmp_path):
    """A strip the simulator wrote (``GEOMETRY = 'nirps-h4rg'``) is fitted as such; a name the reads do not fit
    is not taken, and the old rule answers."""
    from hxrg_denoiser.cli import main

    strip = geometry_for_shape((64, 4096), recorded="nirps-h4rg")
    assert strip.name == "nirps-h4rg" and strip.n_rows == 64
    with pytest.raises(GeometryError, match="no single preset matches 64 x 2048"):
        geometry_for_shape((64, 2048), recorded="nirps-h4rg")
    assert main(["simulate", "dark", "--rows", "16", "--reads", "3", "-o", str(tmp_path / "s"), "-q"]) == 0
    assert main(["fit", str(tmp_path / "s" / "cube.fits"), "-o", str(tmp_path / "f.fits"), "-q"]) == 0
