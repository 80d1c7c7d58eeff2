"""A resumable, parallel, retrying file downloader (standard library HTTP).

- Files already present are skipped (with the right size / checksum when
  those are known). A file only ever appears under its final name complete:
  data go to ``<name>.part`` and are renamed atomically (``os.replace``)
  after the length (``Content-Length``), size and checksum checks pass. So a
  present file without a known size or checksum is trusted as complete.
- An interrupted ``.part`` file is resumed with an HTTP ``Range`` request;
  if the server ignores it (status 200), the download restarts from zero.
- Transient failures (HTTP 408/425/429/5xx, timeouts, dropped connections,
  truncated bodies) are retried with exponential backoff
  ``backoff * 2**(attempt-1)`` (or the server's ``Retry-After`` if longer,
  capped by ``max_backoff``); other HTTP errors
  (404, 403, ...) fail at once. Failures raise / report
  :class:`~galmix.errors.GalmixIOError` messages that name the URL.
- Downloads run in a thread pool; one failure never stops the others
  (:func:`download` reports every item; :meth:`DownloadReport.raise_for_failures`
  raises afterwards).
- A ``tqdm`` progress bar is shown only when asked (``progress=True``, or
  ``None`` = when stderr is a terminal); library calls default to none.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> items = [DownloadItem("https://example.org/a.fits", d / "a.fits")]
>>> report = download(items, dry_run=True)
>>> [(r.status, r.url) for r in report]
[('planned', 'https://example.org/a.fits')]
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from galmix import __version__
from galmix.errors import GalmixIOError, GalmixTypeError, GalmixValueError

__all__ = [
    "DownloadItem",
    "DownloadReport",
    "DownloadResult",
    "download",
    "download_file",
    "file_checksum",
    "items_from_urls",
]

_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_USER_AGENT = f"galmix/{__version__} (+https://github.com/galmix)"
_PART = ".part"


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form only)."""
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


class _Fatal(Exception):
    pass


@dataclass(frozen=True)
class DownloadItem:
    """One file to fetch.

    Parameters
    ----------
    url : str
        ``http://`` or ``https://`` URL.
    path : Path
        Final local path.
    size : int, optional
        Expected size in bytes (checked; a present file of another size is
        fetched again).
    checksum : str, optional
        ``"sha256:<hex>"``, ``"sha1:<hex>"`` or ``"md5:<hex>"`` of the file.
    """

    url: str
    path: Path
    size: int | None = None
    checksum: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not self.url.lower().startswith(
            ("http://", "https://")
        ):
            raise GalmixValueError(f"url must be an http(s) URL, got {self.url!r}")
        object.__setattr__(self, "path", Path(self.path))
        if self.size is not None:
            try:
                ok = (
                    not isinstance(self.size, bool)
                    and int(self.size) == self.size
                    and self.size >= 0
                )
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise GalmixValueError(f"size must be a non-negative integer, got {self.size!r}")
        if self.checksum is not None:
            _parse_checksum(self.checksum)


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one item: ``status`` is ``downloaded``, ``skipped``
    (already present), ``planned`` (dry run) or ``failed`` (see ``error``)."""

    url: str
    path: Path
    status: str
    nbytes: int = 0
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class DownloadReport:
    """Results of :func:`download`, in the order of the items."""

    results: tuple[DownloadResult, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[DownloadResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def _with(self, status: str) -> list[DownloadResult]:
        return [r for r in self.results if r.status == status]

    @property
    def downloaded(self) -> list[DownloadResult]:
        return self._with("downloaded")

    @property
    def skipped(self) -> list[DownloadResult]:
        return self._with("skipped")

    @property
    def planned(self) -> list[DownloadResult]:
        return self._with("planned")

    @property
    def failed(self) -> list[DownloadResult]:
        return self._with("failed")

    @property
    def ok(self) -> bool:
        """True if nothing failed."""
        return not self.failed

    def raise_for_failures(self) -> None:
        """Raise :class:`GalmixIOError` listing every failed URL (if any)."""
        bad = self.failed
        if bad:
            lines = "; ".join(f"{r.url}: {r.error}" for r in bad[:10])
            more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
            raise GalmixIOError(f"{len(bad)} download(s) failed: {lines}{more}")


def _parse_checksum(checksum: str) -> tuple[str, str]:
    if not isinstance(checksum, str) or ":" not in checksum:
        raise GalmixValueError(f"checksum must look like 'sha256:<hex>', got {checksum!r}")
    algo, hexdigest = checksum.split(":", 1)
    algo = algo.lower()
    if (
        algo not in ("sha256", "sha1", "md5")
        or not hexdigest
        or any(c not in "0123456789abcdefABCDEF" for c in hexdigest)
    ):
        raise GalmixValueError(f"checksum must be sha256/sha1/md5:<hex>, got {checksum!r}")
    return algo, hexdigest.lower()


def file_checksum(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """``"<algorithm>:<hex digest>"`` of a file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_checksum(p, "md5")
    'md5:900150983cd24fb0d6963f7d28e17f72'
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"{algorithm}:{h.hexdigest()}"


def _is_complete(item: DownloadItem, path: Path) -> bool:
    if not path.is_file():
        return False
    if item.size is not None and path.stat().st_size != int(item.size):
        return False
    if item.checksum is not None:
        algo, digest = _parse_checksum(item.checksum)
        if file_checksum(path, algo) != f"{algo}:{digest}":
            return False
    return True


def _fetch_once(
    item: DownloadItem,
    part: Path,
    timeout: float,
    resume: bool,
    chunk_size: int,
    on_bytes: Callable[[int], None],
    headers: dict[str, str],
) -> int:
    offset = part.stat().st_size if (resume and part.is_file()) else 0
    hdrs = {"User-Agent": _USER_AGENT, **headers}
    if offset:
        hdrs["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(item.url, headers=hdrs)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            part.unlink(missing_ok=True)
            raise _Retryable("HTTP 416 for the resumed range; restarting") from None
        if exc.code in _RETRY_STATUS:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}", _retry_after(exc.headers)) from None
        raise _Fatal(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (TimeoutError, socket.timeout)):
            raise _Retryable(f"timed out after {timeout} s") from None
        raise _Retryable(f"connection failed: {reason}") from None
    except TimeoutError:
        raise _Retryable(f"timed out after {timeout} s") from None
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        raise _Retryable(f"connection failed: {exc}") from None
    with contextlib.closing(resp):
        status = getattr(resp, "status", 200)
        mode = "wb"
        if offset and status == 206:
            crange = resp.headers.get("Content-Range", "")
            if not crange.startswith(f"bytes {offset}-"):
                part.unlink(missing_ok=True)
                raise _Retryable(
                    f"server answered range {crange!r} for offset {offset}; restarting"
                )
            mode = "ab"
        else:
            offset = 0
        length = resp.headers.get("Content-Length")
        expected = int(length) if length is not None and length.strip().isdigit() else None
        got = 0
        try:
            with open(part, mode) as fh:
                while True:
                    chunk = resp.read(chunk_size)
                    if not chunk:
                        break
                    fh.write(chunk)
                    got += len(chunk)
                    on_bytes(len(chunk))
        except TimeoutError:
            raise _Retryable(f"timed out after {timeout} s while reading") from None
        except (ConnectionError, http.client.HTTPException) as exc:
            raise _Retryable(f"connection dropped while reading: {exc!r}") from None
        if expected is not None and got != expected:
            raise _Retryable(f"truncated response: {got} of {expected} bytes")
    return offset + got


def _download_one(
    item: DownloadItem,
    *,
    retries: int,
    backoff: float,
    max_backoff: float,
    timeout: float,
    resume: bool,
    overwrite: bool,
    chunk_size: int,
    headers: dict[str, str],
    on_bytes: Callable[[int], None],
    sleep: Callable[[float], None],
) -> DownloadResult:
    path = item.path
    if not overwrite and _is_complete(item, path):
        return DownloadResult(item.url, path, "skipped", path.stat().st_size, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + _PART)
    if overwrite or not resume:
        part.unlink(missing_ok=True)
    last = "no attempt made"
    attempts = 0
    for attempt in range(1, retries + 2):
        attempts = attempt
        try:
            total = _fetch_once(item, part, timeout, resume, chunk_size, on_bytes, headers)
            if item.size is not None and total != int(item.size):
                part.unlink(missing_ok=True)
                raise _Retryable(f"size {total} bytes differs from the expected {item.size}")
            if item.checksum is not None:
                algo, digest = _parse_checksum(item.checksum)
                actual = file_checksum(part, algo)
                if actual != f"{algo}:{digest}":
                    part.unlink(missing_ok=True)
                    raise _Retryable(f"checksum mismatch ({actual} != {item.checksum})")
            os.replace(part, path)
            return DownloadResult(item.url, path, "downloaded", total, attempts)
        except _Fatal as exc:
            last = str(exc)
            break
        except _Retryable as exc:
            last = str(exc)
            if attempt <= retries:
                wait = backoff * 2 ** (attempt - 1)
                if exc.retry_after is not None:  # the server's Retry-After, if longer
                    wait = max(wait, exc.retry_after)
                sleep(min(max_backoff, wait))
    return DownloadResult(
        item.url,
        path,
        "failed",
        0,
        attempts,
        f"download of {item.url} failed after {attempts} attempt(s): {last}",
    )


def _validate_common(retries: Any, backoff: Any, timeout: Any, workers: Any = 1) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise GalmixValueError(f"retries must be an integer >= 0, got {retries!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise GalmixValueError(f"workers must be an integer >= 1, got {workers!r}")
    for name, v in (("backoff", backoff), ("timeout", timeout)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
            raise GalmixValueError(f"{name} must be a number >= 0, got {v!r}")
    if timeout == 0:
        raise GalmixValueError("timeout must be > 0")


def download(
    items: Iterable[DownloadItem],
    *,
    workers: int = 4,
    retries: int = 3,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    timeout: float = 60.0,
    resume: bool = True,
    overwrite: bool = False,
    dry_run: bool = False,
    progress: bool | None = False,
    chunk_size: int = 1 << 16,
    headers: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadReport:
    """Fetch many files in parallel; never raises for one failed file.

    Parameters
    ----------
    items : iterable of DownloadItem
        What to fetch (see :func:`galmix.sdss.urls.frame_urls`). Two items
        with the same path must have the same URL.
    workers : int
        Threads.
    retries : int
        Retries after the first attempt for transient failures.
    backoff, max_backoff : float
        Seconds before retry k: ``min(max_backoff, backoff * 2**(k-1))``.
    timeout : float
        Socket timeout per request (seconds).
    resume : bool
        Continue ``.part`` files with HTTP Range requests.
    overwrite : bool
        Fetch even if the file is present.
    dry_run : bool
        Fetch nothing; report ``planned`` (or ``skipped`` if present).
    progress : bool or None
        Show a tqdm progress bar on stderr; None: only if stderr is a terminal.
    chunk_size : int
        Bytes per read.
    headers : dict, optional
        Extra HTTP headers.
    sleep : callable
        Used for the backoff waits (tests pass a no-op).

    Returns
    -------
    DownloadReport
    """
    _validate_common(retries, backoff, timeout, workers)
    items = list(items)
    for it in items:
        if not isinstance(it, DownloadItem):
            raise GalmixTypeError(f"items must be DownloadItem objects, got {type(it).__name__}")
    by_path: dict[Path, DownloadItem] = {}
    unique: list[DownloadItem] = []
    for it in items:
        key = it.path.resolve()
        if key in by_path:
            if by_path[key].url != it.url:
                raise GalmixValueError(
                    f"two URLs for one path {str(it.path)!r}: {by_path[key].url} and {it.url}"
                )
            continue
        by_path[key] = it
        unique.append(it)
    if dry_run:
        results = []
        for it in unique:
            present = not overwrite and _is_complete(it, it.path)
            size = it.path.stat().st_size if present else 0
            results.append(
                DownloadResult(it.url, it.path, "skipped" if present else "planned", size)
            )
        return DownloadReport(tuple(_expand(items, unique, results)))

    show = sys.stderr.isatty() if progress is None else bool(progress)
    from tqdm.auto import tqdm

    lock = threading.Lock()
    with (
        tqdm(
            total=len(unique),
            unit="file",
            desc="download",
            disable=not show,
            file=sys.stderr,
            leave=show,
        ) as files_bar,
        tqdm(
            total=0, unit="B", unit_scale=True, disable=not show, file=sys.stderr, leave=False
        ) as bytes_bar,
    ):

        def on_bytes(n: int) -> None:
            with lock:
                bytes_bar.update(n)

        def run(it: DownloadItem) -> DownloadResult:
            try:
                res = _download_one(
                    it,
                    retries=retries,
                    backoff=float(backoff),
                    max_backoff=float(max_backoff),
                    timeout=float(timeout),
                    resume=resume,
                    overwrite=overwrite,
                    chunk_size=int(chunk_size),
                    headers=dict(headers or {}),
                    on_bytes=on_bytes,
                    sleep=sleep,
                )
            except OSError as exc:  # local disk problems
                res = DownloadResult(
                    it.url, it.path, "failed", 0, 0, f"download of {it.url} failed: {exc}"
                )
            with lock:
                files_bar.update(1)
            return res

        if workers == 1 or len(unique) <= 1:
            results = [run(it) for it in unique]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="galmix-dl") as pool:
                results = list(pool.map(run, unique))
    return DownloadReport(tuple(_expand(items, unique, results)))


def _expand(
    items: list[DownloadItem], unique: list[DownloadItem], results: list[DownloadResult]
) -> list[DownloadResult]:
    """One result per input item (duplicates share their twin's result)."""
    by_key = {it.path.resolve(): r for it, r in zip(unique, results)}
    return [by_key[it.path.resolve()] for it in items]


def download_file(
    url: str,
    path: str | os.PathLike,
    *,
    size: int | None = None,
    checksum: str | None = None,
    retries: int = 3,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    timeout: float = 60.0,
    resume: bool = True,
    overwrite: bool = False,
    headers: dict[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> DownloadResult:
    """Fetch one file (see :func:`download`); raises on failure.

    Raises
    ------
    GalmixIOError
        Naming the URL, after the retries are exhausted or on a permanent
        HTTP error such as 404.
    """
    _validate_common(retries, backoff, timeout)
    item = DownloadItem(url, Path(path), size, checksum)
    res = _download_one(
        item,
        retries=retries,
        backoff=float(backoff),
        max_backoff=float(max_backoff),
        timeout=float(timeout),
        resume=resume,
        overwrite=overwrite,
        chunk_size=1 << 16,
        headers=dict(headers or {}),
        on_bytes=lambda n: None,
        sleep=sleep,
    )
    if res.status == "failed":
        raise GalmixIOError(res.error or f"download of {url} failed")
    return res


def items_from_urls(urls: Iterable[str], directory: str | os.PathLike) -> list[DownloadItem]:
    """Download items for plain URLs (any survey), named by the URL's last path segment.

    Blank lines and ``#`` comments are ignored, so the lines of a URL list
    file can be passed directly.

    Raises
    ------
    GalmixValueError
        For a URL without a file name, or two URLs with the same file name.

    Examples
    --------
    >>> [i.path.name for i in items_from_urls(["https://h/a/x.fits?dl=1", "# note"], "d")]
    ['x.fits']
    """
    from urllib.parse import unquote, urlparse

    d = Path(directory)
    items = []
    seen: dict[str, str] = {}
    for raw in urls:
        url = raw.strip()
        if not url or url.startswith("#"):
            continue
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            raise GalmixValueError(f"url {url!r} does not end in a file name")
        if name in seen and seen[name] != url:
            raise GalmixValueError(f"two URLs give the file name {name!r}: {seen[name]} and {url}")
        seen[name] = url
        items.append(DownloadItem(url, d / name))
    return items
