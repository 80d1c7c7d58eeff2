"""Downloader against a local HTTP server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import hashlib
import os

import pytest

from galmix.errors import GalmixIOError, GalmixValueError
from galmix.sdss import DownloadItem, download, download_file, file_checksum


def _no_sleep(seconds):
    _no_sleep.calls.append(seconds)


_no_sleep.calls = []


def _payload(n, seed=0):
    return bytes((i * 31 + seed * 7 + (i >> 8)) % 251 for i in range(n))


def _no_leftovers(directory, final_names=()):
    """No temp file, and final names only where complete."""
    names = sorted(os.listdir(directory))
    return [n for n in names if n not in final_names]


def test_parallel_download_skip_and_checksum(http_server, tmp_path):
    files = {f"/d/f{i}.bin": _payload(5000 + 977 * i, i) for i in range(6)}
    http_server.files.update(files)
    items = [
        DownloadItem(
            http_server.url + p,
            tmp_path / p.rsplit("/", 1)[1],
            size=len(data),
            checksum="sha256:" + hashlib.sha256(data).hexdigest(),
        )
        for p, data in files.items()
    ]
    report = download(items, workers=3, retries=0, timeout=10, progress=False)
    assert report.ok and len(report.downloaded) == 6
    for it, data in zip(items, files.values()):
        assert it.path.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == sorted(it.path.name for it in items)
    # second run: everything present with the right size and checksum -> skipped, no requests
    n_requests = len(http_server.log)
    report2 = download(items, workers=3)
    assert len(report2.skipped) == 6 and len(http_server.log) == n_requests
    # a corrupted file (right size, wrong content) is fetched again
    bad = items[2].path
    bad.write_bytes(b"x" * len(files["/d/f2.bin"]))
    report3 = download(items, workers=2, retries=0)
    assert [r.status for r in report3].count("downloaded") == 1
    assert bad.read_bytes() == files["/d/f2.bin"]


def test_dry_run_fetches_nothing(http_server, tmp_path):
    http_server.files["/a.bin"] = b"abc"
    present = tmp_path / "b.bin"
    present.write_bytes(b"done")
    items = [
        DownloadItem(http_server.url + "/a.bin", tmp_path / "a.bin"),
        DownloadItem(http_server.url + "/b.bin", present),
    ]
    report = download(items, dry_run=True)
    assert [r.status for r in report] == ["planned", "skipped"]
    assert http_server.log == [] and not (tmp_path / "a.bin").exists()


def test_server_errors_then_ok_are_retried_with_backoff(http_server, tmp_path):
    data = _payload(20000)
    http_server.files["/flaky.fits.bz2"] = data
    http_server.behaviour["/flaky.fits.bz2"] = {"fail": 2, "status": 503}
    http_server.files["/busy.bin"] = b"ok"
    http_server.behaviour["/busy.bin"] = {"fail": 1, "status": 429}
    _no_sleep.calls.clear()
    res = download_file(
        http_server.url + "/flaky.fits.bz2",
        tmp_path / "flaky.fits.bz2",
        retries=3,
        backoff=0.5,
        sleep=_no_sleep,
    )
    assert res.status == "downloaded" and res.attempts == 3
    assert (tmp_path / "flaky.fits.bz2").read_bytes() == data
    assert _no_sleep.calls == [0.5, 1.0]  # exponential backoff
    assert (
        download_file(
            http_server.url + "/busy.bin", tmp_path / "busy.bin", sleep=_no_sleep
        ).attempts
        == 2
    )


def test_too_many_failures_raise_naming_the_url(http_server, tmp_path):
    http_server.files["/down.bin"] = b"x" * 10
    http_server.behaviour["/down.bin"] = {"fail": 100, "status": 500}
    url = http_server.url + "/down.bin"
    with pytest.raises(GalmixIOError, match=r"down\.bin.*after 3 attempt\(s\).*HTTP 500"):
        download_file(url, tmp_path / "down.bin", retries=2, sleep=_no_sleep)
    assert not (tmp_path / "down.bin").exists()
    assert http_server.counts["/down.bin"] == 3


def test_404_fails_at_once(http_server, tmp_path):
    url = http_server.url + "/missing/frame-r-003813-5-0023.fits.bz2"
    with pytest.raises(GalmixIOError, match=r"frame-r-003813-5-0023\.fits\.bz2.*HTTP 404"):
        download_file(url, tmp_path / "f.fits.bz2", retries=5, sleep=_no_sleep)
    assert http_server.counts["/missing/frame-r-003813-5-0023.fits.bz2"] == 1
    assert os.listdir(tmp_path) == []
    # in a batch: reported, the others still downloaded, raise afterwards on request
    http_server.files["/ok.bin"] = b"fine"
    report = download(
        [
            DownloadItem(url, tmp_path / "f.fits.bz2"),
            DownloadItem(http_server.url + "/ok.bin", tmp_path / "ok.bin"),
        ],
        workers=2,
        sleep=_no_sleep,
    )
    assert [r.status for r in report] == ["failed", "downloaded"]
    assert "HTTP 404" in report.failed[0].error and url in report.failed[0].error
    with pytest.raises(GalmixIOError, match="1 download"):
        report.raise_for_failures()


def test_truncated_responses_never_leave_a_final_file(http_server, tmp_path):
    data = _payload(50000, 3)
    # always truncated, Range ignored: every attempt fails
    http_server.files["/trunc.bin"] = data
    http_server.behaviour["/trunc.bin"] = {"truncate": 100, "ranges": False}
    with pytest.raises(GalmixIOError, match="truncated"):
        download_file(
            http_server.url + "/trunc.bin",
            tmp_path / "trunc.bin",
            retries=2,
            timeout=10,
            sleep=_no_sleep,
        )
    assert not (tmp_path / "trunc.bin").exists()
    assert _no_leftovers(tmp_path) == [
        "trunc.bin.part"
    ]  # kept for a later resume, never under the final name


def test_truncated_then_resumed_with_range(http_server, tmp_path):
    data = _payload(64000, 5)
    http_server.files["/resume.bin"] = data
    http_server.behaviour["/resume.bin"] = {"truncate": 1}
    res = download_file(
        http_server.url + "/resume.bin",
        tmp_path / "resume.bin",
        retries=2,
        timeout=10,
        sleep=_no_sleep,
    )
    assert res.status == "downloaded" and res.attempts == 2
    assert (tmp_path / "resume.bin").read_bytes() == data
    ranges = [r for p, r in http_server.log if p == "/resume.bin"]
    assert ranges == [None, f"bytes={len(data) // 2}-"]
    assert sorted(os.listdir(tmp_path)) == ["resume.bin"]


def test_interrupted_part_file_is_resumed_or_restarted(http_server, tmp_path):
    data = _payload(30000, 9)
    http_server.files["/p.bin"] = data
    part = tmp_path / "p.bin.part"
    part.write_bytes(data[:10000])
    download_file(http_server.url + "/p.bin", tmp_path / "p.bin", sleep=_no_sleep)
    assert (tmp_path / "p.bin").read_bytes() == data and not part.exists()
    assert http_server.log[-1] == ("/p.bin", "bytes=10000-")
    # a server that ignores Range: the partial file is restarted, not appended to
    http_server.files["/q.bin"] = data
    http_server.behaviour["/q.bin"] = {"ranges": False}
    (tmp_path / "q.bin.part").write_bytes(b"garbage")
    download_file(http_server.url + "/q.bin", tmp_path / "q.bin", sleep=_no_sleep)
    assert (tmp_path / "q.bin").read_bytes() == data


def test_size_and_checksum_mismatch_are_errors(http_server, tmp_path):
    http_server.files["/s.bin"] = b"0123456789"
    with pytest.raises(GalmixIOError, match="size"):
        download_file(
            http_server.url + "/s.bin", tmp_path / "s.bin", size=11, retries=1, sleep=_no_sleep
        )
    with pytest.raises(GalmixIOError, match="checksum"):
        download_file(
            http_server.url + "/s.bin",
            tmp_path / "s.bin",
            checksum="md5:" + "0" * 32,
            retries=0,
            sleep=_no_sleep,
        )
    assert os.listdir(tmp_path) == []
    ok = download_file(
        http_server.url + "/s.bin",
        tmp_path / "s.bin",
        checksum=file_checksum_bytes(b"0123456789"),
        sleep=_no_sleep,
    )
    assert ok.status == "downloaded"
    assert file_checksum(tmp_path / "s.bin", "md5") == file_checksum_bytes(b"0123456789")


def file_checksum_bytes(data):
    return "md5:" + hashlib.md5(data).hexdigest()


def test_timeout_is_reported(http_server, tmp_path):
    http_server.files["/slow.bin"] = b"late"
    http_server.behaviour["/slow.bin"] = {"sleep": 1.0}
    with pytest.raises(GalmixIOError, match=r"slow\.bin.*timed out"):
        download_file(
            http_server.url + "/slow.bin",
            tmp_path / "slow.bin",
            retries=0,
            timeout=0.2,
            sleep=_no_sleep,
        )
    assert not (tmp_path / "slow.bin").exists()


def test_refused_connection_and_validation(tmp_path):
    # a loopback port that was free a moment ago: nothing listens there
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GalmixIOError, match="connection failed"):
        download_file(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", retries=0, timeout=2)
    with pytest.raises(GalmixValueError, match="url"):
        DownloadItem("ftp://example.org/x", tmp_path / "x")
    with pytest.raises(GalmixValueError, match="checksum"):
        DownloadItem("http://127.0.0.1/x", tmp_path / "x", checksum="crc:12")
    for bad in (-1, "ten", 2.5, True):
        with pytest.raises(GalmixValueError, match="size"):
            DownloadItem("http://127.0.0.1/x", tmp_path / "x", size=bad)
    with pytest.raises(GalmixValueError, match="retries"):
        download([], retries=-1)
    with pytest.raises(GalmixValueError, match="two URLs"):
        download(
            [
                DownloadItem("http://127.0.0.1/a", tmp_path / "x"),
                DownloadItem("http://127.0.0.1/b", tmp_path / "x"),
            ]
        )


def test_progress_bar_goes_to_stderr(http_server, tmp_path, capsys):
    http_server.files["/a.bin"] = _payload(3000)
    http_server.files["/b.bin"] = _payload(4000, 1)
    items = [DownloadItem(http_server.url + f"/{n}.bin", tmp_path / f"{n}.bin") for n in "ab"]
    report = download(items, workers=2, progress=True)
    assert report.ok
    captured = capsys.readouterr()
    assert captured.out == "" and "download" in captured.err
    # off by default (library code never prints)
    report = download(items, overwrite=True)
    assert report.ok and capsys.readouterr().err == ""


def test_retry_after_header_is_honoured(http_server, tmp_path):
    http_server.files["/later.bin"] = b"payload"
    http_server.behaviour["/later.bin"] = {"fail": 1, "status": 503, "retry_after": 7}
    _no_sleep.calls.clear()
    res = download_file(
        http_server.url + "/later.bin", tmp_path / "later.bin", backoff=0.5, sleep=_no_sleep
    )
    assert res.attempts == 2 and _no_sleep.calls == [7.0]
    # capped by max_backoff
    http_server.counts.clear()
    _no_sleep.calls.clear()
    download_file(
        http_server.url + "/later.bin",
        tmp_path / "later2.bin",
        backoff=0.5,
        max_backoff=2.0,
        sleep=_no_sleep,
    )
    assert _no_sleep.calls == [2.0]
