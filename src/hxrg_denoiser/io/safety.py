"""Where outputs may go: checked first, written to a temporary name, renamed into place.

The rule every command follows: an output may never be, or lie inside, any
file or folder the command reads (the ramp, its reads folder, a calibration,
a pixel map, the model's files, darks, scenes), with or without
``--overwrite``; and a folder of outputs never removes or replaces anything
hxrg did not write there.

Every output goes through :func:`check_output_path` (or an
:class:`OutputFolder` for a folder of outputs) before any work is done: it
refuses an output that exists (unless ``overwrite``), whose folder is missing
or not writable, whose name is too long, or that would touch an input. The
data are then written to a temporary name beside the target,
``.NAME.hxrg-HOST-PID-XXXXXXXX.tmp``, and renamed onto it only when complete;
temporaries left behind by a killed run (its process gone) are swept at the
next write to that folder.

What hxrg writes into a folder is listed in the folder's manifest
(:data:`MANIFEST`); with ``overwrite`` only the entries listed there are ever
replaced, and a folder written as one product (a ramp as per-read files) is
replaced only when everything in it is listed in its own manifest.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from hxrg_denoiser.errors import OutputError

__all__ = [
    "MANIFEST",
    "OutputFolder",
    "check_output_path",
    "check_replaceable_folder",
    "prepare_output_folder",
    "refuse_input_overlap",
    "atomic_output",
    "atomic_folder",
    "temporary_path",
    "usual_permissions",
    "sweep_stale_temporaries",
    "write_manifest",
    "read_manifest",
    "locked_folder",
    "writing",
    "umask",
]

NAME_MAX = 255  # bytes in one file name on the file systems we meet
MANIFEST = ".hxrg-written.json"  # what hxrg wrote in a folder: the only entries it may replace there
_HOST = re.sub(r"[^A-Za-z0-9_]", "_", socket.gethostname())[:32] or "host"
_TEMP_PATTERN = re.compile(r"^\..*\.hxrg-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[a-z0-9_]{8}\.tmp$")
_FOREIGN_TEMP_AGE = 24 * 3600.0  # seconds after which another host's temporary is taken as abandoned


def _name_bytes(name: str) -> int:
    return len(os.fsencode(name))


def refuse_input_overlap(output: str | os.PathLike, inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse an output that is one of ``inputs`` or lies inside an input folder.

    Raises
    ------
    OutputError
        Naming the output and the input it would touch.
    """
    target = Path(os.path.realpath(output))
    for item in inputs:
        source = Path(os.path.realpath(item))
        if target == source:
            raise OutputError(f"{output}: is the input {item}; an output never replaces its input")
        if source.is_dir() and target.is_relative_to(source):
            raise OutputError(
                f"{output}: lies inside the input folder {item}; it would be read back as part of the input. "
                "Write it elsewhere"
            )


def _check_writable(folder: Path, shown: Path) -> None:
    """Create and remove a probe file in ``folder``: catches read-only, immutable and pseudo file systems."""
    try:
        handle, probe = tempfile.mkstemp(prefix=f".probe.hxrg-{_HOST}-{os.getpid()}-", suffix=".tmp", dir=folder)
        try:
            os.close(handle)
        finally:  # removed even when an interruption (Ctrl-C, SIGTERM) arrives here
            os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{shown}: cannot write in folder {folder} ({err.strerror or err})") from None


def check_output_path(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
    folder: bool = False,
) -> Path:
    """Check, before any work, that ``path`` can be written as an output.

    Parameters
    ----------
    path : path-like
        The output file (or, with ``folder``, a folder written as one product).
    overwrite : bool
        Allow replacing an existing output.
    inputs : iterable of path-like
        Files and folders the output must not touch.
    folder : bool
        The output is a folder (a ramp written as per-read files).

    Raises
    ------
    OutputError
        If it exists without ``overwrite``, is a folder where a file is
        expected, its folder is missing or not writable, its name is too
        long, or it would touch an input.
    """
    path = Path(path)
    if _name_bytes(path.name) > NAME_MAX:
        raise OutputError(f"{path.name[:40]}...: output file name is {_name_bytes(path.name)} bytes long; "
                          f"the limit is {NAME_MAX}")
    refuse_input_overlap(path, inputs)
    if path.is_dir() and not folder:
        raise OutputError(f"{path}: is a folder, expected a file name (end it with / to write into the folder)")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: output exists; pass --overwrite (overwrite=True in Python) to replace it")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: output folder {path.parent} does not exist")
    _check_writable(path.parent, path)
    return path


def prepare_output_folder(
    path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), create: bool = True
) -> Path:
    """Create (with its parents) and check a folder that will receive outputs.

    With ``create=False`` only check: the folder, or the nearest folder
    above it that exists, must be writable.

    Raises
    ------
    OutputError
        If it is a file, cannot be created or written, or would lie in (or be) an input.
    """
    path = Path(path)
    refuse_input_overlap(path, inputs)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, expected a folder for the outputs")
    if not create:
        existing = next(p for p in (path, *path.absolute().parents) if p.exists())
        if not existing.is_dir():
            raise OutputError(f"{path}: {existing} is a file, not a folder")
        _check_writable(existing, path)
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{path}: cannot create the output folder ({err.strerror or err})") from None
    _check_writable(path, path)
    return path


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove this tool's temporaries in ``folder`` whose writing process is gone; returns what was removed.

    A temporary of this host is stale when its process no longer runs; one of
    another host (a shared file system) when it is older than a day.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(os.fspath(folder)))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_PATTERN.match(str(entry.name))
        if match is None:
            continue
        if match["host"] == _HOST:
            stale = int(match["pid"]) != os.getpid() and not _process_alive(int(match["pid"]))
        else:
            with contextlib.suppress(OSError):
                stale = now - entry.stat(follow_symlinks=False).st_mtime > _FOREIGN_TEMP_AGE
        if stale:
            with contextlib.suppress(OSError):
                shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def temporary_path(path: Path, *, directory: bool = False) -> Path:
    """A new temporary file (or folder) beside ``path``, named so that :func:`sweep_stale_temporaries` knows it."""
    stem = os.fsencode(path.name)[: NAME_MAX - 70].decode(errors="ignore")
    prefix = f".{stem}.hxrg-{_HOST}-{os.getpid()}-"
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~umask())
        return tmp
    handle, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=path.parent)
    os.close(handle)
    os.chmod(name, 0o666 & ~umask())  # mkstemp makes 0600; outputs get the usual permissions
    return Path(name)


def usual_permissions(path: str | os.PathLike) -> None:
    """Give a file written by a library that makes it private (safetensors: 0600) the permissions every other
    output gets (``0666`` less the umask)."""
    os.chmod(path, 0o666 & ~umask())


# Errors of a write that name no file (a full disk, a quota): reported with the output being written.
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO}


@contextlib.contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Name ``path`` in a write error that names no file (``No space left on device``)."""
    try:
        yield
    except OSError as err:
        if err.filename is None and err.errno in WRITE_ERRNOS:
            raise OutputError(f"{path}: cannot write the output ({err.strerror or err})") from None
        raise


@contextlib.contextmanager
def atomic_output(
    path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = check_output_path(path, overwrite=overwrite, inputs=inputs)
    sweep_stale_temporaries(path.parent)
    tmp_path = temporary_path(path)
    try:
        with writing(path):
            yield tmp_path
        if path.exists() and not overwrite:  # appeared while we worked
            raise OutputError(f"{path}: output appeared while writing; not replaced")
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` (a folder) as a whole if the block succeeds.

    A kill at any moment leaves either the old folder, or the new one, or
    (between the two renames) the old one under ``NAME.previous``, which
    :func:`previous_folder` finds.
    """
    path = Path(path)
    sweep_stale_temporaries(path.parent)
    tmp = temporary_path(path, directory=True)
    previous = path.with_name(path.name + ".previous")
    try:
        yield tmp
        if previous.exists():
            shutil.rmtree(previous)
        if path.exists():
            os.rename(path, previous)
        os.rename(tmp, path)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)



def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask




def read_manifest(folder: Path) -> set[str]:
    """The entries hxrg recorded as written in ``folder`` (none when there is no readable manifest)."""
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return set()
    entries = data.get("written") if isinstance(data, dict) else None
    return {e for e in entries if isinstance(e, str)} if isinstance(entries, list) else set()


def write_manifest(folder: Path, entries: Iterable[str]) -> None:
    """Record ``entries`` (names inside ``folder``) as written by hxrg, atomically."""
    document = json.dumps({"written_by": "hxrg-denoiser", "written": sorted(set(entries))}, indent=1)
    with atomic_output(folder / MANIFEST, overwrite=True) as tmp:
        tmp.write_text(document)


def check_replaceable_folder(path: Path) -> None:
    """Refuse to replace the folder ``path`` unless hxrg wrote everything in it (its manifest lists it all).

    Raises
    ------
    OutputError
        Naming the folder and the first entry hxrg did not write.
    """
    listed = read_manifest(path) | {MANIFEST}
    foreign = sorted(entry.name for entry in os.scandir(path) if entry.name not in listed
                     and not _TEMP_PATTERN.match(entry.name))
    if foreign:
        more = f" and {len(foreign) - 1} more" if len(foreign) > 1 else ""
        raise OutputError(f"{path}: holds {foreign[0]}{more}, which hxrg did not write; the folder is not replaced "
                          "(remove it yourself, or write elsewhere)")


class OutputFolder:
    """A folder that receives several outputs of one command, replacing only what hxrg wrote there.

    Parameters
    ----------
    path : path-like
        The folder (created, with its parents, by :meth:`claim`).
    inputs : iterable of path-like
        Files and folders the command reads: no output may be one or lie inside one.
    overwrite : bool
        Replace outputs that exist, when hxrg wrote them (they are in the folder's manifest).

    Examples
    --------
    >>> folder = OutputFolder("bench-out", overwrite=False)  # doctest: +SKIP
    >>> folder.claim(["metrics.json", "report.md"])  # every output checked before any work  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (),
                 overwrite: bool = False) -> None:
        self.path = Path(path)
        self.inputs = list(inputs)
        self.overwrite = overwrite
        refuse_input_overlap(self.path, self.inputs)
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: is a file, expected a folder for the outputs")
        self._existed = self.path.is_dir()
        self._before = read_manifest(self.path) if self._existed else set()
        self._claimed: set[str] = set()
        self._new: set[str] = set()

    def check(self, names: Sequence[str]) -> list[Path]:
        """Check, without writing anything, that each of ``names`` may be written; returns their paths.

        Raises
        ------
        OutputError
            If one exists without ``overwrite``, exists but was not written by hxrg, or would touch an input;
            or if the folder cannot be made or written.
        """
        prepare_output_folder(self.path, inputs=self.inputs, create=False)
        paths = [self.path / name for name in names]
        for entry in paths:
            refuse_input_overlap(entry, self.inputs)
        for name, entry in zip(names, paths):
            if os.path.lexists(entry):
                if not self.overwrite:
                    raise OutputError(f"{entry}: output exists; pass --overwrite (overwrite=True in Python) to replace it")
                if name not in self._before:
                    raise OutputError(f"{entry}: exists and was not written by hxrg; not replaced "
                                      "(remove it yourself, or write elsewhere)")
                if entry.is_dir() and not entry.is_symlink():
                    check_replaceable_folder(entry)
        return paths

    def claim(self, names: Iterable[str]) -> list[Path]:
        """:meth:`check` ``names``, create the folder and record them in its manifest; returns their paths.

        Recorded before they are written, so that a run stopped half way can be run again with
        ``overwrite``.
        """
        names = list(names)
        paths = self.check(names)
        prepare_output_folder(self.path, inputs=self.inputs)
        self._new.update(name for name, path in zip(names, paths) if not os.path.lexists(path))
        self._claimed.update(names)
        write_manifest(self.path, read_manifest(self.path) | self._claimed)
        return paths

    def discard(self) -> None:
        """After a failure: remove what this run claimed that did not exist before it, so that no partial
        product is left (outputs of an earlier run that were being replaced stay)."""
        for name in sorted(self._new):
            entry = self.path / name
            with contextlib.suppress(OSError):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink(missing_ok=True)
        if self.path.is_dir():
            with contextlib.suppress(OSError):
                remaining = read_manifest(self.path) - self._new
                if remaining:
                    write_manifest(self.path, remaining)
                else:
                    (self.path / MANIFEST).unlink(missing_ok=True)
                if not self._existed:
                    self.path.rmdir()  # only when empty
        self._claimed -= self._new
        self._new = set()


@contextlib.contextmanager
def locked_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on the folder ``path`` (created if needed) while the block runs.

    A second process asking for the same folder is refused at once, so that two commands never write
    one folder (two trainings into one run folder). A folder this call created and that is still empty
    at the end is removed.

    Raises
    ------
    OutputError
        If another process holds the folder, or it cannot be made.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: is a file, expected a folder")
    created = not path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise OutputError(f"{path}: cannot create or open the folder ({err.strerror or err})") from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{path}: another hxrg command is writing this folder; wait for it to finish or "
                              "choose another folder") from None
        yield path
    finally:
        os.close(handle)
        if created:
            with contextlib.suppress(OSError):
                path.rmdir()  # only when nothing was written
