"""Module files as the kernel's modules_install leaves them: plain `.ko`, or compressed `.ko.xz`,
`.ko.gz` or `.ko.zst` (told by the suffix, as kmod and kbuild name them). Each is read whole
into its ELF bytes, at most MODULE_SIZE_LIMIT of them: a larger file, or one that inflates
beyond it (a decompression bomb), is refused while it is read, before it takes the memory.

The symbol database build reads every module of a tree so; convert, check and show read a
livepatch module so (an installed one is compressed), `try` the modules it loads. lzma, gzip
and zstandard (an optional package; without it the zstd program) are used only when a file
needs them.
"""

import os

from .files import open_regular

# What compressed data starts with, and the suffix such a module file has.
MAGIC = {b"\xfd7zXZ\0": ("xz", ".xz"), b"\x1f\x8b": ("gzip", ".gz"),
         b"\x28\xb5\x2f\xfd": ("zstd", ".zst")}
COMPRESSED_SUFFIXES = tuple(suffix for _kind, suffix in MAGIC.values())
# The names a module file has: plain, then each packed form.
MODULE_SUFFIXES = (".ko", *(".ko" + suffix for suffix in COMPRESSED_SUFFIXES))
# The largest module read (plain or inflated). Debian's largest (amdgpu.ko) is about 20 MB, 20
# times that with debug info: this is far beyond any real module, and it bounds the memory one
# module can take (each worker of a database build holds one module at a time).
MODULE_SIZE_LIMIT = 1 << 30
LIMIT_TEXT = "1 GiB"
# Bytes read from a compressed module, and taken from its decompressor, at a time: a real
# module is read in one piece and comes out in one (no copy beyond the decompressor's own); a
# bomb is stopped one piece beyond the limit.
INFLATE_STEP = 64 << 20


def is_compressed(path):
    return str(path).endswith(COMPRESSED_SUFFIXES)


def compressed_kind(head):
    """(kind, suffix) of data that starts as compressed data does, else None."""
    return next((found for magic, found in MAGIC.items() if head.startswith(magic)), None)


def read_module_file(path, error):
    """The ELF bytes of the module file at ``path``, decompressed according to its suffix;
    ``error(path, message)`` is raised for a file that cannot be read or inflated."""
    path = str(path)
    with open_regular(path, error) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > MODULE_SIZE_LIMIT:  # packed or not, far too big
                raise error(path, f"larger than {LIMIT_TEXT}: not a kernel module")
            if path.endswith(".xz"):
                return _inflate_xz(path, f, error, size)
            if path.endswith((".gz", ".zst")):
                return _inflate(path, f, error)
            data = f.read()
        except OSError as e:  # an I/O error while reading (gzip's own errors are caught there)
            raise error(path, f"cannot read: {e.strerror or e}") from None
    packed = compressed_kind(data[:8])
    if packed is not None:  # packed modules are told by their suffix, as modules_install names them
        raise error(path, f"{packed[0]}-compressed data under a plain name: decompress it, or "
                          f"name it {os.path.basename(path)}{packed[1]}")
    return data


def _inflate_xz(path, f, error, size):
    """An .xz module as lzma.decompress() reads it: its streams one after the other, anything
    after a complete stream that is not one ignored; refused as soon as it passes the limit.
    The first read asks for the file's size (and a byte more), not INFLATE_STEP: a buffer of
    that step for each of a tree's 4,000 modules cost a twentieth of decompressing them. Once
    a read comes back short the file has ended, and it is not read again (a read at the end
    of the file still takes a buffer of the size asked for: a mapping made and unmade per
    module)."""
    import lzma
    pieces, total = [], 0  # pieces: the output of the complete streams
    decompressor, stream = lzma.LZMADecompressor(), []
    wanted = min(size + 1, INFLATE_STEP)
    packed = f.read(wanted)
    ended = len(packed) < wanted

    def more():
        nonlocal ended
        if ended:
            return b""
        piece = f.read(INFLATE_STEP)
        ended = len(piece) < INFLATE_STEP
        return piece

    if not packed:
        raise error(path, "cannot decompress: an empty file")
    while True:
        try:
            piece = decompressor.decompress(packed, INFLATE_STEP)
        except lzma.LZMAError as e:
            if pieces:  # what follows a complete stream is no stream: ignored
                break
            raise error(path, f"cannot decompress: {e}") from None
        packed = b""
        total += len(piece)
        if total > MODULE_SIZE_LIMIT:
            raise error(path, f"inflates to more than {LIMIT_TEXT}: not a kernel module")
        stream.append(piece)
        if decompressor.eof:
            pieces += stream
            packed = decompressor.unused_data or more()
            if not packed:
                break
            decompressor, stream = lzma.LZMADecompressor(), []
        elif decompressor.needs_input:
            packed = more()
            if not packed:
                raise error(path, "cannot decompress: the file ends inside an xz stream")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _inflate(path, f, error):
    """A .gz or .zst module, read from its stream in steps of INFLATE_STEP."""
    errors = (OSError, EOFError, ValueError)  # gzip's header and CRC errors are OSErrors
    if path.endswith(".gz"):
        import gzip
        import zlib
        errors += (zlib.error,)  # a damaged deflate stream
        stream = gzip.GzipFile(fileobj=f)
    elif not has_zstandard():
        return _zstd_program(path, error)
    else:
        import zstandard
        errors += (zstandard.ZstdError,)
        stream = zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
    pieces, total = [], 0
    try:
        with stream:
            while True:
                piece = stream.read(INFLATE_STEP)
                if not piece:
                    return pieces[0] if len(pieces) == 1 else b"".join(pieces)
                total += len(piece)
                pieces.append(piece)
                if total > MODULE_SIZE_LIMIT:
                    raise error(path, f"inflates to more than {LIMIT_TEXT}: not a kernel "
                                      f"module")
    except errors as e:
        raise error(path, f"cannot decompress: {e}") from None


def has_zstandard():
    """Whether the optional zstandard package is installed."""
    try:
        import zstandard  # noqa: F401
    except ImportError:
        return False
    return True


def _zstd_program(path, error):
    """A .ko.zst decompressed by the zstd program, for installs without the zstandard package
    (Ubuntu's and Arch's modules are .ko.zst), its output read with the same bound."""
    import shutil
    import subprocess
    if shutil.which("zstd") is None:
        raise error(path, "reading .ko.zst needs the zstd program (apt-get install zstd) or "
                          "the 'zstandard' package (pip install 'klp-convert[zstd]')")
    with subprocess.Popen(["zstd", "-dcq", "--", path], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        data = proc.stdout.read(MODULE_SIZE_LIMIT + 1)
        if len(data) > MODULE_SIZE_LIMIT:
            proc.kill()
            proc.communicate()
            raise error(path, f"inflates to more than {LIMIT_TEXT}: not a kernel module")
        why = proc.communicate()[1].decode(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        raise error(path, f"cannot decompress: {why[-1] if why else 'zstd failed'}")
    return data
