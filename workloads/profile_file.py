"""Reading a sparsity-profile file (``.npz``) safely: everything is checked before an array is allocated.

Checks, in order (each failure is one :class:`WorkloadFileError` line naming the file):

1. a regular file of at most ``components.fileio.limits.MAX_PROFILE_FILE_BYTES``;
2. a zip archive holding only ``meta.npy``, ``zero_fraction.npy`` and ``tile_zero_fraction.npy``, whose
   declared uncompressed sizes sum to at most ``MAX_PROFILE_ARRAY_BYTES`` (a zip bomb is refused from the
   directory alone; zip members never yield more than their declared size);
3. each member's ``.npy`` header (read without allocating): a numeric or text dtype, a shape whose bytes fit
   the member's declared size;
4. ``meta``: JSON nested at most ``MAX_NESTING_DEPTH`` levels with finite numbers, then :class:`ProfileMeta`
   (format, version, kind, steps within ``1..MAX_PROFILE_STEPS``, unique node ids, one positive channel
   count per node, tile size);
5. the arrays: float, one value per (node, step, channel) (per tile for ``tile_zero_fraction``), finite and
   within [0, 1].

Then the file is loaded by :meth:`workloads.SparsityProfile.load` (the format's own reader). Consistency with
a graph (ids, channel counts, enough steps) is checked when the profile is attached or simulated.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from components.fileio import InputFileError, check_input_file, load_json_text, validation_message
from components.fileio.limits import (MAX_CHANNELS, MAX_NAME_CHARS, MAX_PROFILE_ARRAY_BYTES, MAX_PROFILE_FILE_BYTES,
                           MAX_PROFILE_STEPS, MAX_WORKLOAD_NODES)

from .errors import WorkloadFileError
from .profile import PROFILE_FORMAT, PROFILE_FORMAT_VERSION, SparsityProfile

__all__ = ["ProfileMeta", "read_profile", "check_profile_file"]

_MEMBERS = {"meta.npy": "meta", "zero_fraction.npy": "zero_fraction", "tile_zero_fraction.npy": "tile_zero_fraction"}
_MAX_META_CHARS = 16 << 20

NodeId = Annotated[str, Field(strict=True, min_length=1, max_length=MAX_NAME_CHARS)]
Channels = Annotated[int, Field(strict=True, ge=1, le=MAX_CHANNELS)]


class ProfileMeta(BaseModel):
    """The ``meta`` record of a profile file (fields added by later writers are kept unchecked)."""

    model_config = ConfigDict(extra="allow")
    format: Literal["sqdm-sparsity-profile"]
    format_version: Literal[1]
    kind: Literal["synthetic", "measured"]
    model: Annotated[str, Field(strict=True, max_length=MAX_NAME_CHARS)]
    steps: Annotated[int, Field(strict=True, ge=1, le=MAX_PROFILE_STEPS)]
    node_ids: Annotated[list[NodeId], Field(max_length=MAX_WORKLOAD_NODES)]
    channels: Annotated[list[Channels], Field(max_length=MAX_WORKLOAD_NODES)]
    tile_channels: Optional[Annotated[int, Field(strict=True, ge=1, le=MAX_CHANNELS)]] = None
    info: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _lists(self) -> "ProfileMeta":
        if len(self.channels) != len(self.node_ids):
            raise ValueError(f"channels lists {len(self.channels)} counts for {len(self.node_ids)} node_ids")
        if len(set(self.node_ids)) != len(self.node_ids):
            dup = next(n for n in self.node_ids if self.node_ids.count(n) > 1)
            raise ValueError(f"node id '{dup}' is listed twice")
        return self


def _header(z: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a member's .npy header, without reading its data."""
    try:
        with z.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"npy version {version}")
    except Exception as e:  # noqa: BLE001 - any malformed header means "not a profile array"
        raise WorkloadFileError(f"{where}: entry '{info.filename}' is not a readable array ({type(e).__name__}: "
                                f"{e})") from None
    if dtype.hasobject:
        raise WorkloadFileError(f"{where}: entry '{info.filename}' holds Python objects; not accepted")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        raise WorkloadFileError(f"{where}: entry '{info.filename}' claims {nbytes:,} bytes of data in "
                                f"{info.file_size:,}")
    return tuple(shape), dtype


def _check_fractions(a: np.ndarray, name: str, need: int, where: str) -> None:
    if a.dtype.kind != "f":
        raise WorkloadFileError(f"{where}: {name} must hold floats, not {a.dtype}")
    if a.ndim != 1 or a.size != need:
        raise WorkloadFileError(f"{where}: {name}: expected {need} values, found {a.size} (shape {list(a.shape)})")
    if a.size and not (np.all(np.isfinite(a)) and a.min() >= 0.0 and a.max() <= 1.0):
        raise WorkloadFileError(f"{where}: {name}: values must be finite and within [0, 1]")


def check_profile_file(path: str | Path) -> ProfileMeta:
    """Run checks 1-5 of the module docstring on ``path``; returns the validated meta record."""
    where = f"profile file {path}"
    try:
        p = check_input_file(path, "profile file", MAX_PROFILE_FILE_BYTES)
    except InputFileError as e:
        raise WorkloadFileError(str(e)) from None
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
            unknown = [i.filename for i in infos if i.filename not in _MEMBERS]
            if unknown:
                raise WorkloadFileError(f"{where}: unexpected entry '{unknown[0]}' (a profile holds "
                                        f"{', '.join(_MEMBERS.values())})")
            total = sum(i.file_size for i in infos)
            if total > MAX_PROFILE_ARRAY_BYTES:
                raise WorkloadFileError(f"{where}: {total:,} bytes once decompressed, more than the "
                                        f"{MAX_PROFILE_ARRAY_BYTES:,}-byte limit")
            heads = {_MEMBERS[i.filename]: _header(z, i, where) for i in infos}
    except WorkloadFileError:
        raise
    except Exception as e:  # noqa: BLE001 - zipfile raises many types; all mean "not a readable profile"
        raise WorkloadFileError(f"{where}: not a readable .npz profile ({type(e).__name__}: {e})") from None
    if "meta" not in heads:
        raise WorkloadFileError(f"{where}: missing or malformed 'meta' entry")
    shape, dtype = heads["meta"]
    if shape != () or dtype.kind != "U" or dtype.itemsize // 4 > _MAX_META_CHARS:
        raise WorkloadFileError(f"{where}: missing or malformed 'meta' entry (a JSON text is expected)")
    try:
        with np.load(p, allow_pickle=False) as z:
            meta_text = str(z["meta"])
            meta_raw = load_json_text(meta_text, f"{where}: meta")
            if not isinstance(meta_raw, dict) or meta_raw.get("format") != PROFILE_FORMAT:
                raise WorkloadFileError(f"{where}: not an sqdm sparsity profile")
            version = meta_raw.get("format_version")
            if type(version) is not int or version != PROFILE_FORMAT_VERSION:
                raise WorkloadFileError(f"{where}: format_version {version!r} is not supported (this sqdm-sim "
                                        f"reads version {PROFILE_FORMAT_VERSION})")
            try:
                meta = ProfileMeta.model_validate(meta_raw)
            except ValidationError as e:
                raise WorkloadFileError(validation_message(f"{where}: meta", e)) from None
            if "zero_fraction" not in heads:
                raise WorkloadFileError(f"{where}: missing entry 'zero_fraction'")
            _check_fractions(z["zero_fraction"], "zero_fraction", meta.steps * sum(meta.channels), where)
            if "tile_zero_fraction" in heads:
                if meta.tile_channels is None:
                    raise WorkloadFileError(f"{where}: tile_zero_fraction given without meta.tile_channels")
                need = meta.steps * sum(math.ceil(c / meta.tile_channels) for c in meta.channels)
                _check_fractions(z["tile_zero_fraction"], "tile_zero_fraction", need, where)
    except (WorkloadFileError, InputFileError) as e:
        raise WorkloadFileError(str(e)) from None
    except Exception as e:  # noqa: BLE001
        raise WorkloadFileError(f"{where}: not a readable .npz profile ({type(e).__name__}: {e})") from None
    return meta


def read_profile(path: str | Path) -> SparsityProfile:
    """A :class:`SparsityProfile` from ``path`` after :func:`check_profile_file`; one-line errors only."""
    check_profile_file(path)
    return SparsityProfile.load(path)
