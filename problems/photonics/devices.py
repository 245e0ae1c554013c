"""The ceviche-challenges device of a ``photonics@1`` instance, and what the rest of the
package needs of it (grid shapes, ports, wavelengths, the brush in pixels, the spec
windows resolved per wavelength).

Geometry, ports and mode sources are ceviche-challenges' own (``waveguide_bend``,
``mode_converter``, ``beam_splitter``, ``wdm``); this module only fills their spec
dataclasses. The standard values (:data:`STANDARD`) are those of the lightweight and
default ceviche challenges: 400 nm waveguides 720 nm long, 560 nm mode padding, 400 nm
padding, 40 nm port offsets, silicon (eps 12.25) in oxide (eps 2.25), 20 PML cells;
1.6 x 1.6 um design regions for the bend and the mode converter (TE0 -> TE1), 3.2 x 2.0 um
for the beam splitter (1120 nm waveguide gap), 3.2 x 3.2 um (lightweight) or 6.4 x 6.4 um
(default) for the WDM. Lightweight: 40 nm pixels at 1270 and 1290 nm; default: 10 nm pixels
at 1265, 1270, 1275, 1285, 1290, 1295 nm. Standard specs (power transmission): bend and
mode converter ``|S11|^2 <= -20 dB``, ``|S21|^2 >= -0.5 dB``; beam splitter ``|S11|^2,
|S41|^2 <= -20 dB``, ``|S21|^2, |S31|^2`` in ``[-3.5 dB, 1 - 10^(-0.35)]``; WDM: the first
half of the wavelengths to port 2 (``>= -3 dB``, port 3 and reflection ``<= -20 dB``), the
second half to port 3.

Importing this module does not import ceviche; :func:`device_setup` does (lazily).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from problems.photonics.schema import BrushShape, Device, PhotonicsInstance, Resolution

__all__ = [
    "DEFAULT_BRUSH_PX",
    "RESOLUTION_NM",
    "STANDARD",
    "WAVELENGTHS_NM",
    "DeviceSetup",
    "GeometryError",
    "Window",
    "brush_mask",
    "device_setup",
]

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

RESOLUTION_NM = {Resolution.LIGHTWEIGHT: 40.0, Resolution.DEFAULT: 10.0}
WAVELENGTHS_NM = {
    Resolution.LIGHTWEIGHT: (1270.0, 1290.0),
    Resolution.DEFAULT: (1265.0, 1270.0, 1275.0, 1285.0, 1290.0, 1295.0),
}
DEFAULT_BRUSH_PX = {Resolution.LIGHTWEIGHT: 3, Resolution.DEFAULT: 8}

WG_MODE_PADDING_NM = 560.0
PADDING_NM = 400.0
PORT_PML_OFFSET_NM = 40.0
INPUT_MONITOR_OFFSET_NM = 40.0
CLADDING_PERMITTIVITY = 2.25
SLAB_PERMITTIVITY = 12.25
PML_CELLS = 20

STANDARD: dict[Device, dict[str, float | int]] = {
    Device.WAVEGUIDE_BEND: {"design_width_nm": 1600, "design_height_nm": 1600, "wg_width_nm": 400, "wg_length_nm": 720},
    Device.MODE_CONVERTER: {
        "design_width_nm": 1600,
        "design_height_nm": 1600,
        "wg_width_nm": 400,
        "output_wg_width_nm": 400,
        "wg_length_nm": 720,
        "input_mode_order": 1,
        "output_mode_order": 2,
    },
    Device.BEAM_SPLITTER: {
        "design_width_nm": 3200,
        "design_height_nm": 2000,
        "wg_width_nm": 400,
        "wg_length_nm": 720,
        "wg_separation_nm": 1120,
    },
    Device.WDM: {
        "design_width_nm": 3200,
        "design_height_nm": 3200,
        "wg_width_nm": 400,
        "wg_length_nm": 720,
        "port_inset_nm": 320,
    },
}
"""Standard geometry per device (nm); the WDM's design region is 6400 nm at the default
resolution unless given."""

_NUM_PORTS = {Device.WAVEGUIDE_BEND: 2, Device.MODE_CONVERTER: 2, Device.BEAM_SPLITTER: 4, Device.WDM: 3}
_DB = {"-20": 10 ** (-20 / 10), "-0.5": 10 ** (-0.5 / 10), "-3.5": 10 ** (-3.5 / 10), "-3": 10 ** (-3 / 10)}


class GeometryError(ValueError):
    """A geometry the device cannot take; ``pointer`` into the instance."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer}: {message}")
        self.pointer = pointer
        self.message = message


@dataclass(frozen=True)
class Window:
    """One resolved spec window: ports counted from 0, one wavelength index."""

    input_index: int
    output_index: int
    wavelength_index: int
    lower: float
    upper: float

    def label(self, wavelengths_nm: tuple[float, ...]) -> str:
        """``T21@1270nm`` (ports from 1)."""
        return f"T{self.output_index + 1}{self.input_index + 1}@{wavelengths_nm[self.wavelength_index]:g}nm"


@dataclass(frozen=True, eq=False)
class DeviceSetup:
    """An instance's device: ``model`` (a ceviche-challenges ``Model``), ``resolution_nm``,
    ``wavelengths_nm``, ``num_ports``, ``sim_shape`` (cells along x, y), ``design_coords``
    (x0, y0, x1, y1) and ``design_shape`` (rows along x, columns along y) of the design
    region, the ``background`` density (1 solid, 0 void) over the whole grid, the brush
    (``brush_px`` diameter, ``brush`` its boolean mask, ``brush_area`` its pixels) and the
    resolved ``windows``."""

    model: Any
    resolution_nm: float
    wavelengths_nm: tuple[float, ...]
    num_ports: int
    sim_shape: tuple[int, int]
    design_coords: tuple[int, int, int, int]
    design_shape: tuple[int, int]
    background: npt.NDArray[np.float64]
    brush_px: int
    brush: npt.NDArray[np.bool_]
    brush_area: int
    windows: tuple[Window, ...]
    excited: tuple[int, ...]


def brush_mask(diameter_px: int, shape: BrushShape = BrushShape.DISK) -> npt.NDArray[np.bool_]:
    """The brush as a ``(d, d)`` boolean mask: a square, or the pixels whose centres lie
    within ``d / 2`` of the centre (a disk; d <= 3 gives the full square)."""
    d = max(int(diameter_px), 1)
    if shape == BrushShape.SQUARE:
        return np.ones((d, d), dtype=bool)
    centre = (d - 1) / 2
    i, j = np.mgrid[0:d, 0:d]
    return np.asarray((i - centre) ** 2 + (j - centre) ** 2 <= (d / 2) ** 2, dtype=bool)


def device_setup(instance: PhotonicsInstance) -> DeviceSetup:
    """The device of ``instance`` (cached per instance); ``GeometryError`` for a geometry
    the device cannot take."""
    return _setup(instance.model_dump_json())


@functools.lru_cache(maxsize=16)
def _setup(instance_json: str) -> DeviceSetup:
    instance = PhotonicsInstance.model_validate_json(instance_json)
    geometry = _geometry(instance)
    resolution_nm = RESOLUTION_NM[instance.resolution]
    wavelengths = tuple(instance.wavelengths_nm or WAVELENGTHS_NM[instance.resolution])
    brush_px = _brush_px(instance, resolution_nm)
    model = _ceviche_model(instance.device, geometry, resolution_nm, wavelengths)
    x0, y0, x1, y1 = (int(v) for v in model.design_region_coords)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise GeometryError("/geometry", "the design region is under one pixel")
    brush = brush_mask(brush_px, instance.brush.shape)
    num_ports = _NUM_PORTS[instance.device]
    windows = _windows(instance, wavelengths)
    excited = tuple(sorted({w.input_index for w in windows}))
    return DeviceSetup(
        model=model,
        resolution_nm=resolution_nm,
        wavelengths_nm=wavelengths,
        num_ports=num_ports,
        sim_shape=(int(model.shape[0]), int(model.shape[1])),
        design_coords=(x0, y0, x1, y1),
        design_shape=(x1 - x0, y1 - y0),
        background=np.asarray(model.density_bg, dtype=np.float64),
        brush_px=brush_px,
        brush=brush,
        brush_area=int(brush.sum()),
        windows=windows,
        excited=excited,
    )


def _brush_px(instance: PhotonicsInstance, resolution_nm: float) -> int:
    brush = instance.brush
    if brush.diameter_px is not None:
        return brush.diameter_px
    if brush.diameter_nm is not None:
        return round(brush.diameter_nm / resolution_nm)
    return DEFAULT_BRUSH_PX[instance.resolution]


def _geometry(instance: PhotonicsInstance) -> dict[str, float]:
    standard = dict(STANDARD[instance.device])
    if instance.device == Device.WDM and instance.resolution == Resolution.DEFAULT:
        standard.update(design_width_nm=6400, design_height_nm=6400)
    given = instance.geometry.model_dump(exclude_none=True)
    for name in given:
        if name not in standard:
            raise GeometryError(f"/geometry/{name}", f"a {instance.device.value} has no {name}")
    return {name: float(value) for name, value in {**standard, **given}.items()}


def _ceviche_model(device: Device, g: dict[str, float], resolution_nm: float, wavelengths: tuple[float, ...]) -> Any:
    from ceviche_challenges import beam_splitter, mode_converter, params, waveguide_bend, wdm
    from ceviche_challenges import units as u

    nm = u.nm
    sim_params = params.CevicheSimParams(resolution=resolution_nm * nm, wavelengths=u.Array(list(wavelengths), nm))
    size = (g["design_width_nm"] * nm, g["design_height_nm"] * nm)
    common: dict[str, Any] = {
        "port_pml_offset": PORT_PML_OFFSET_NM * nm,
        "cladding_permittivity": CLADDING_PERMITTIVITY,
        "slab_permittivity": SLAB_PERMITTIVITY,
        "input_monitor_offset": INPUT_MONITOR_OFFSET_NM * nm,
        "pml_width": PML_CELLS,
    }
    width = g["wg_width_nm"]
    _check_width(width, "wg_width_nm", resolution_nm)
    try:
        if device == Device.WAVEGUIDE_BEND:
            _check_fits(width, min(g["design_width_nm"], g["design_height_nm"]), "wg_width_nm", "the design region")
            least = WG_MODE_PADDING_NM + width / 2 - min(g["design_width_nm"], g["design_height_nm"]) / 2
            if g["wg_length_nm"] < least:
                raise GeometryError(
                    "/geometry/wg_length_nm",
                    f"{g['wg_length_nm']:g} nm is too short for the port's mode window: at least {least:g} nm "
                    f"(mode padding {WG_MODE_PADDING_NM:g} nm + half the width - half the design region)",
                )
            spec = waveguide_bend.spec.WaveguideBendSpec(
                wg_width=width * nm,
                wg_length=g["wg_length_nm"] * nm,
                wg_mode_padding=WG_MODE_PADDING_NM * nm,
                padding=PADDING_NM * nm,
                variable_region_size=size,
                **common,
            )
            return waveguide_bend.model.WaveguideBendModel(sim_params, spec)
        if device == Device.MODE_CONVERTER:
            out_width = g["output_wg_width_nm"]
            _check_width(out_width, "output_wg_width_nm", resolution_nm)
            _check_fits(max(width, out_width), g["design_height_nm"], "wg_width_nm", "the design height")
            _check_fits(max(width, out_width), g["design_width_nm"], "wg_width_nm", "the design width")
            spec = mode_converter.spec.ModeConverterSpec(
                left_wg_width=width * nm,
                left_wg_mode_padding=WG_MODE_PADDING_NM * nm,
                left_wg_mode_order=int(g["input_mode_order"]),
                right_wg_width=out_width * nm,
                right_wg_mode_padding=WG_MODE_PADDING_NM * nm,
                right_wg_mode_order=int(g["output_mode_order"]),
                wg_length=g["wg_length_nm"] * nm,
                padding=PADDING_NM * nm,
                variable_region_size=size,
                **common,
            )
            return mode_converter.model.ModeConverterModel(sim_params, spec)
        if device == Device.BEAM_SPLITTER:
            separation = g["wg_separation_nm"]
            if separation < 2 * WG_MODE_PADDING_NM:
                raise GeometryError(
                    "/geometry/wg_separation_nm",
                    f"{separation:g} nm is under {2 * WG_MODE_PADDING_NM:g} nm (twice the mode padding)",
                )
            if g["design_height_nm"] < 2 * width + separation:
                raise GeometryError(
                    "/geometry/design_height_nm",
                    f"{g['design_height_nm']:g} nm cannot hold two {width:g} nm waveguides {separation:g} nm apart",
                )
            spec = beam_splitter.spec.BeamSplitterSpec(
                wg_width=width * nm,
                wg_length=g["wg_length_nm"] * nm,
                wg_separation=separation * nm,
                wg_mode_padding=WG_MODE_PADDING_NM * nm,
                variable_region_size=size,
                design_symmetry=None,
                **common,
            )
            return beam_splitter.model.BeamSplitterModel(sim_params, spec)
        return wdm.model.WdmModel(sim_params, _wdm_spec(g, resolution_nm, common))
    except AssertionError as exc:
        raise GeometryError("/geometry", f"ceviche-challenges refuses this geometry ({exc or 'a size check'})") from exc
    except u.ResolutionError as exc:
        raise GeometryError(
            "/geometry",
            f"the geometry does not fall on the {resolution_nm:g} nm grid ({exc}); give lengths in whole pixels, "
            f"widths, separations and design sizes in even numbers of pixels ({2 * resolution_nm:g} nm steps)",
        ) from exc


def _wdm_spec(g: dict[str, float], resolution_nm: float, common: dict[str, Any]) -> Any:
    """A WDM centred in its domain: input waveguide on the left at mid height, two output
    waveguides on the right, ``port_inset_nm`` inside the design region's top and bottom."""
    from ceviche_challenges import units as u
    from ceviche_challenges import wdm

    nm = u.nm
    dw, dh, width, length = g["design_width_nm"], g["design_height_nm"], g["wg_width_nm"], g["wg_length_nm"]
    inset = g["port_inset_nm"]
    if 2 * (width + inset) > dh:
        raise GeometryError(
            "/geometry/port_inset_nm",
            f"two {width:g} nm outputs {inset:g} nm inside the edges do not fit in the {dh:g} nm design height",
        )
    pml_nm = PML_CELLS * resolution_nm
    extent_i = dw + 2 * length + 2 * pml_nm
    extent_j = dh + 2 * PADDING_NM + 2 * pml_nm
    half_out = dh / 2 - width / 2 - inset
    return wdm.spec.WdmSpec(
        extent_ij=u.Array([extent_i, extent_j], nm),
        input_wg_j=extent_j / 2 * nm,
        output_wgs_j=u.Array([extent_j / 2 - half_out, extent_j / 2 + half_out], nm),
        wg_width=width * nm,
        wg_mode_padding=WG_MODE_PADDING_NM * nm,
        input_mode_i=(pml_nm + PORT_PML_OFFSET_NM) * nm,
        output_mode_i=(extent_i - pml_nm - PORT_PML_OFFSET_NM) * nm,
        variable_region=(
            u.Array([extent_i / 2 - dw / 2, extent_j / 2 - dh / 2], nm),
            u.Array([extent_i / 2 + dw / 2, extent_j / 2 + dh / 2], nm),
        ),
        cladding_permittivity=common["cladding_permittivity"],
        slab_permittivity=common["slab_permittivity"],
        input_monitor_offset=common["input_monitor_offset"],
        pml_width=common["pml_width"],
    )


def _check_width(width: float, name: str, resolution_nm: float) -> None:
    if width < 2 * resolution_nm:
        raise GeometryError(f"/geometry/{name}", f"{width:g} nm is under two pixels ({2 * resolution_nm:g} nm)")


def _check_fits(width: float, room: float, name: str, what: str) -> None:
    if width > room:
        raise GeometryError(f"/geometry/{name}", f"a {width:g} nm waveguide is wider than {what} ({room:g} nm)")


def _windows(instance: PhotonicsInstance, wavelengths: tuple[float, ...]) -> tuple[Window, ...]:
    windows: list[Window] = []
    if instance.spec is None:
        for w in range(len(wavelengths)):
            for inp, out, lower, upper in _standard_windows(instance.device, w, len(wavelengths)):
                windows.append(Window(inp, out, w, lower, upper))
        return tuple(windows)
    for window in instance.spec:
        indices = (
            range(len(wavelengths))
            if window.wavelength_nm is None
            else [k for k, v in enumerate(wavelengths) if abs(v - window.wavelength_nm) < 1e-6]
        )
        windows.extend(
            Window(window.input_port - 1, window.output_port - 1, k, window.lower, window.upper) for k in indices
        )
    return tuple(windows)


def _standard_windows(device: Device, w: int, count: int) -> list[tuple[int, int, float, float]]:
    if device in (Device.WAVEGUIDE_BEND, Device.MODE_CONVERTER):
        return [(0, 0, 0.0, _DB["-20"]), (0, 1, _DB["-0.5"], 1.0)]
    if device == Device.BEAM_SPLITTER:
        half = (_DB["-3.5"], 1 - _DB["-3.5"])
        return [(0, 0, 0.0, _DB["-20"]), (0, 1, *half), (0, 2, *half), (0, 3, 0.0, _DB["-20"])]
    first_band = w < (count + 1) // 2 if count > 1 else True
    target, other = (1, 2) if first_band else (2, 1)
    return [(0, 0, 0.0, _DB["-20"]), (0, target, _DB["-3"], 1.0), (0, other, 0.0, _DB["-20"])]
