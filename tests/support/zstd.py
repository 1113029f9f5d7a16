"""zstd-compressed data for the tests: the zstandard package when it is installed (a dev
dependency), else Debian's zstd program (scripts/test installs both), so that no test skips
for want of the package."""

import subprocess


def _package():
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def zstd_compress(data, level=3):
    """``data`` as one zstd frame with a checksum."""
    zstandard = _package()
    if zstandard is not None:
        return zstandard.ZstdCompressor(level=level, write_checksum=True).compress(data)
    return subprocess.run(["zstd", f"-{level}", "-q", "-c", "--check"], input=data,
                          capture_output=True, check=True).stdout


def zstd_write(path, pieces, level=1):
    """Write the pieces (bytes) to ``path`` as one zstd stream, compressed as they come (a
    gigabyte need not be held)."""
    zstandard = _package()
    with open(path, "wb") as f:
        if zstandard is not None:
            with zstandard.ZstdCompressor(level=level).stream_writer(f) as w:
                for piece in pieces:
                    w.write(piece)
            return
        proc = subprocess.Popen(["zstd", f"-{level}", "-q", "-c"], stdin=subprocess.PIPE,
                                stdout=f)
        for piece in pieces:
            proc.stdin.write(piece)
        proc.stdin.close()
        if proc.wait():
            raise RuntimeError("zstd failed")
