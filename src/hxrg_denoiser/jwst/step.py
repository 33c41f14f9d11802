"""``hxrg_ramp_fit``: the stpipe step that fits JWST ramps with this package, in place of ``ramp_fit``.

``strun hxrg_ramp_fit X_ramp.fits`` (or ``X_uncal.fits``) writes ``X_rate.fits`` (``ImageModel``) and, for
more than one integration, ``X_rateints.fits`` (``CubeModel``), both in DN/s with the input's metadata
where JWST's schema puts it. Inside a pipeline it returns ``(rate, rateints)`` as ``ramp_fit`` does.
Offline, give the reference files as overrides: ``--override_gain=GAIN.fits --override_readnoise=RN.fits``
(``N/A``: the read noise measured on the data) and, for an uncal whose saturation was not checked,
``--override_saturation=SATURATION.fits`` (``N/A``: GROUPDQ and the plateaus at the top of the ramps only).

Options (``spec``): ``clean`` removes the correlated noise left in each integration's rate (``hxrg fit
--clean``); ``refcorr`` is the reference-pixel correction (``auto``: none where the pipeline's ``refpix`` ran,
else the seed correction; after ``refpix``, ERR is checked as a corrected fit's is); ``jump_threshold`` the jump
test's sigmas (as ``hxrg fit``); ``use_groupdq_jumps`` also takes the jumps ``GROUPDQ`` flags (JWST's ``jump``
step), as ``hxrg fit --groupdq-jumps``.
"""

from __future__ import annotations

import logging

import numpy as np
from crds.core.exceptions import CrdsError
from jwst.lib import reffile_utils
from jwst.pipeline import Detector1Pipeline
from jwst.stpipe import Step
from stdatamodels.jwst import datamodels

from hxrg_denoiser._version import __version__
from hxrg_denoiser.fitting import FitOptions
from hxrg_denoiser.io.orientation import check_axes, to_readout
from hxrg_denoiser.io.output import product_cards
from hxrg_denoiser.jwst.rates import RampArrays, Rates, fit_integrations

__all__ = ["HxrgRampFitStep", "HxrgDetector1Pipeline"]

log = logging.getLogger(__name__)


class HxrgRampFitStep(Step):
    """Fit JWST ramps with hxrg-denoiser: rate and rateints in DN/s (see the module)."""

    class_alias = "hxrg_ramp_fit"

    spec = """
        clean = boolean(default=False)  # remove the correlated noise left in the rate (hxrg fit --clean)
        refcorr = option('auto', 'none', 'seed', 'smoothed', default='auto')  # auto: none after refpix, else seed
        jump_threshold = float(default=5.0)  # sigmas of the jump test (hxrg fit --jump-threshold)
        use_groupdq_jumps = boolean(default=False)  # also take the jumps GROUPDQ flags (jwst's jump step)
    """

    reference_file_types = ["gain", "readnoise", "saturation"]

    def default_suffix(self) -> str:
        """Standalone, the rate is saved as ``X_rate.fits``."""
        return "rate"

    def process(self, step_input):
        """Fit the ramps of ``step_input`` (a ``RampModel``, ``Level1bModel`` or their file)."""
        model = self.prepare_output(step_input, open_as_type=datamodels.RampModel)
        ramp = _ramp_arrays(self, model)
        refcorr = self.refcorr
        if refcorr == "auto":
            refcorr = "none" if model.meta.cal_step.refpix == "COMPLETE" else "auto"
        saturation = None
        if model.meta.cal_step.saturation != "COMPLETE":  # an uncal: the SATURATION reference's levels (DN)
            try:
                saturation = _reference(self, model, "saturation", datamodels.SaturationModel)
            except CrdsError:
                log.warning("no SATURATION reference file (CRDS is unreachable; give --override_saturation=FILE): "
                            "saturation from GROUPDQ and the plateaus at the top of the ramps only")
        if saturation is not None:
            saturation = np.ascontiguousarray(to_readout(np.nan_to_num(saturation, nan=np.inf), ramp.fastaxis,
                                                         ramp.slowaxis), dtype=np.float32)
        options = FitOptions(method="utr", refcorr=refcorr, clean=self.clean, jump_threshold=self.jump_threshold,
                             saturation=saturation, reference_corrected=model.meta.cal_step.refpix == "COMPLETE",
                             groupdq_jumps=self.use_groupdq_jumps)
        log.info("hxrg-denoiser %s: %d integration(s) of %d groups, reference correction %s%s", __version__,
                 *ramp.data.shape[:2], refcorr, ", cleaned" if self.clean else "")
        rates = fit_integrations(ramp, options)
        rate, rateints = _rate_model(model, rates), _rateints_model(model, rates)
        if self.parent is None:  # standalone (strun): X_rate.fits, and X_rateints.fits beside it
            if self.save_results and ramp.data.shape[0] > 1:
                self.save_model(rateints, suffix="rateints")
            return rate
        return rate, rateints


    def finalize_result(self, result, reference_files_used):
        """JWST's record of versions and reference files; the CRDS context only where CRDS chose a file
        (with every reference file given as an override, offline, there is no context to ask for)."""
        overridden = all(getattr(self, f"override_{name}", None) for name, _ in reference_files_used)
        super().finalize_result(result, [] if overridden else reference_files_used)
        if overridden and isinstance(result, datamodels.JwstDataModel):
            for name, filename in reference_files_used:
                if hasattr(result.meta.ref_file, name):
                    getattr(result.meta.ref_file, name).name = filename


def _reference(step: Step, model, reftype: str, open_as):
    """The reference array of ``reftype`` cut to the data's subarray, or None where it is ``N/A``."""
    name = step.get_reference_file(model, reftype)
    if name == "N/A":
        return None
    with open_as(name) as reference:
        if not reffile_utils.ref_matches_sci(model, reference):
            reference = reffile_utils.get_subarray_model(model, reference)
        return reference.data.copy()


def _ramp_arrays(step: Step, model) -> RampArrays:
    gain = _reference(step, model, "gain", datamodels.GainModel)
    if gain is None:
        raise ValueError("hxrg_ramp_fit needs a GAIN reference file (--override_gain=FILE offline)")
    read_noise = _reference(step, model, "readnoise", datamodels.ReadnoiseModel)
    fast, slow = check_axes(model.meta.subarray.fastaxis, model.meta.subarray.slowaxis, model.meta.filename or "input")
    groupdq = model.groupdq if model.groupdq is not None and model.groupdq.size else None
    pixeldq = model.pixeldq if model.pixeldq is not None and model.pixeldq.size else None
    return RampArrays(model.data, groupdq, pixeldq, fast, slow, float(model.meta.exposure.group_time), gain,
                      read_noise, int(model.meta.exposure.nframes or 1), int(model.meta.exposure.noutputs or 4))


def _finished(out, model, arrays: dict, rates: Rates):
    out.update(model)
    for name in ("dq", "err", "var_poisson", "var_rnoise"):
        setattr(out, name, arrays[name])
    out.meta.bunit_data = "DN/s"
    out.meta.bunit_err = "DN/s"
    out.meta.cal_step.ramp_fit = "COMPLETE"
    record = rates.fits[0].provenance
    out.add_history_entry(f"hxrg-denoiser {__version__}: {record.method} of {len(rates.fits)} integration(s)")
    _with_primary_cards(out, hxrg_cards(rates))
    return out


# keywords of hxrg's records that the JWST schema has its own of (from the ramp's metadata): left out
_SCHEMA_OWN = ("ORIGIN", "DATE", "NREADS", "NGROUPS", "GEOMETRY", "GAIN", "TGROUP", "TIMESRC", "EFFINTTM", "EXPTIME",
               "INPUT")


def hxrg_cards(rates: Rates) -> list[list]:
    """What made the rates, as primary-header cards ``[key, value, comment]`` (those ``hxrg fit --product jwst``
    writes, less the schema's own): the first integration's records; with several, each one's read-noise scale
    and reference correction too (``RNSCALn``, ``REFCORn``, n = 1 .. 9)."""
    cards = {key: card for key, card in product_cards(rates.fits[0]).items() if key not in _SCHEMA_OWN}
    if len(rates.fits) > 1:
        for n, image in enumerate(rates.fits[:9], start=1):
            own = product_cards(image)
            for key, short in (("RNSCALE", "RNSCAL"), ("REFCORR", "REFCOR")):
                if key in own:
                    cards[f"{short}{n}"] = (own[key][0], f"{key} of integration {n}")
    return [[key, value, comment] for key, (value, comment) in cards.items()]


def _with_primary_cards(out, cards: list[list]) -> None:
    """Add ``cards`` to the primary header ``out`` is saved with (``extra_fits``), replacing those of the same key."""
    try:
        extra = dict(out.extra_fits.instance)
    except AttributeError:
        extra = {}
    primary = dict(extra.get("PRIMARY", {}))
    keys = {card[0] for card in cards}
    primary["header"] = [card for card in primary.get("header", []) if card[0] not in keys] + cards
    extra["PRIMARY"] = primary
    out.extra_fits = extra


def _rate_model(model, rates: Rates):
    out = datamodels.ImageModel(data=rates.rate["sci"])
    return _finished(out, model, rates.rate, rates)


def _rateints_model(model, rates: Rates):
    out = datamodels.CubeModel(data=rates.ints["sci"])
    out = _finished(out, model, rates.ints, rates)
    if model.int_times is not None and len(model.int_times):
        out.int_times = model.int_times
    return out


class HxrgDetector1Pipeline(Detector1Pipeline):
    """JWST's ``calwebb_detector1`` with ``hxrg_ramp_fit`` in place of ``ramp_fit`` (``strun
    calwebb_detector1_hxrg X_uncal.fits``): every other step as JWST runs it, the ramps fitted here."""

    class_alias = "calwebb_detector1_hxrg"

    step_defs = {**Detector1Pipeline.step_defs, "ramp_fit": HxrgRampFitStep}

    def finalize_result(self, result, reference_files_used):
        """JWST's record of the run; offline (CRDS unreachable, every reference file an override, on which
        the CRDS client exits rather than raise) without the CRDS context."""
        try:
            super().finalize_result(result, reference_files_used)
        except (CrdsError, SystemExit):
            log.warning("CRDS is unreachable: %s records no CRDS context", getattr(result.meta, "filename", "the result"))
