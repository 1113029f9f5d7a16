"""Module files as the kernel's modules_install leaves them: plain `.ko`, or compressed `.ko.xz`,
`.ko.gz` or `.ko.zst` (told by the suffix, as kmod and kbuild name them). Each is read whole
into its ELF bytes, at most MODULE_SIZE_LIMIT of them: a larger file, or one that inflates
beyond it (a decompression bomb), is refused while it is read, before it takes the memory.

The symbol database build reads every module of a tree so (of an .xz file of several blocks,
only the blocks that hold the parts it reads); convert, check and show read a
livepatch module so (an installed one is compressed), `try` the modules it loads. lzma, gzip
and zstandard (an optional package; without it the zstd program) are used only when a file
needs them.
"""

import os
from bisect import bisect_right
from struct import unpack_from
from zlib import crc32

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


def read_module_file(path, error, parts=None):
    """The ELF bytes of the module file at ``path``, decompressed according to its suffix;
    ``error(path, message)`` is raised for a file that cannot be read or inflated.

    ``parts``: for a reader that needs some parts of the module only (a database build reads
    its headers, symbol and string tables and .modinfo): parts(image) -> [(start, end)] of
    the bytes it needs, given what it has so far. An .xz file of several blocks then has only
    the blocks that hold those parts decompressed, each whole, and zeros stand for the rest
    (_xz_parts); every other file is read whole."""
    path = str(path)
    with open_regular(path, error) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > MODULE_SIZE_LIMIT:  # packed or not, far too big
                raise error(path, f"larger than {LIMIT_TEXT}: not a kernel module")
            if path.endswith(".xz"):
                return _inflate_xz(path, f, error, size, parts)
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


def _inflate_xz(path, f, error, size, parts=None):
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
    if parts is not None and ended:
        image = _xz_parts(packed, parts)
        if image is not None:
            return image
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
            packed, aligned = _after_stream_padding(decompressor.unused_data, more)
            if not packed or not aligned:  # (a NUL run of another length is no padding)
                break
            decompressor, stream = lzma.LZMADecompressor(), []
        elif decompressor.needs_input:
            packed = more()
            if not packed:
                raise error(path, "cannot decompress: the file ends inside an xz stream")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _after_stream_padding(rest, more):
    """(what follows a complete stream and the NUL bytes after it, b"" at the end of the file;
    whether those NULs were whole 4-byte words). The .xz format allows Stream Padding, NULs in
    4-byte words, after a stream, and xz and kmod (liblzma's concatenated mode) read past it;
    lzma.decompress() takes it for the start of another stream and refuses the file."""
    skipped = 0
    while True:
        stripped = rest.lstrip(b"\0")
        skipped += len(rest) - len(stripped)
        if stripped:
            return stripped, skipped % 4 == 0
        rest = more()
        if not rest:
            return b"", skipped % 4 == 0


# An .xz file (The .xz File Format 1.2.1): a stream header of 12 bytes (magic, flags, CRC32 of
# the flags), the blocks, each padded to 4 bytes, the index, and a stream footer of 12 bytes
# (CRC32, backward size, flags, "YZ"). Each block decompresses on its own: xz makes one per
# 3 MiB of input when it compresses in threads, as Debian's kernel modules are (amdgpu.ko, 30
# MB, is 10 blocks; a module under 3 MiB is one).
XZ_FRAME = 12
# The most an .xz file's index may claim, times its size, for the image to be made from it
# before a block is decompressed (xz packs zeros about 7,000 to 1, a kernel module about 5).
XZ_MOST_INFLATED = 2000
# parts() is asked again until it names nothing new: the ELF header, then the section header
# table, then the sections it locates, then those their names locate. A file that needs more
# rounds than this is decompressed whole.
PARTS_ROUNDS = 8


def _xz_parts(packed, parts):
    """The image of an .xz file of one stream of several blocks in which the blocks that hold
    the ranges parts() names are decompressed (see read_module_file), each whole, so that its
    check (CRC32 for Debian's modules) vouches for every byte used; or None: any other file,
    or one whose blocks do not decompress as its index says (the whole read then says what is
    wrong). The blocks not decompressed are not checked: their bytes are not used."""
    import lzma
    blocks = _xz_blocks(packed, fewest=2)
    if blocks is None or \
            blocks[-1][3] > min(MODULE_SIZE_LIMIT, XZ_MOST_INFLATED * len(packed)):
        return None  # (an index claiming more than its blocks can hold is read whole)
    image = bytearray(blocks[-1][3])
    decoder = _XzBlockDecoder(packed, blocks, image)
    wanted = [(0, 64)]  # the largest ELF header
    try:
        for _ in range(PARTS_ROUNDS):
            if not any([decoder.fill(start, end) for start, end in wanted]):
                return bytes(image)
            wanted = parts(image)
    except (lzma.LZMAError, _Inconsistent):
        pass
    return None


class _Inconsistent(Exception):
    """A block does not hold as many bytes as the index says."""


class _XzBlockDecoder:
    """Decompresses the blocks of an .xz file that fill() asks for into ``image``."""

    def __init__(self, packed, blocks, image):
        self.packed, self.blocks, self.image = packed, blocks, image
        self.starts = [block[2] for block in blocks]
        self.done = set()

    def fill(self, start, end):
        """Decompress the blocks that hold [start, end) of the image; whether one was new."""
        start, end = max(start, 0), min(end, len(self.image))
        new = False
        number = bisect_right(self.starts, start) - 1
        while start < end and number < len(self.blocks):
            if number not in self.done:
                self._decode(number)
                self.done.add(number)
                new = True
            start, number = self.blocks[number][3], number + 1
        return new

    def _decode(self, number):
        """One block, decompressed as the only block of a stream of its own (the file's stream
        header, the block with its padding and check, an index of that one block, a footer):
        the decompressor reaches the stream's end only once the block's check and the index's
        sizes have been verified (LZMAError if one fails). (Fed the block alone, it waits for
        the index after the check, as it would while the check is incomplete: its end could
        not be told from a block cut short.)"""
        import lzma
        packed_start, packed_end, plain_start, plain_end = self.blocks[number]
        size = plain_end - plain_start
        decoder = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        piece = decoder.decompress(_single_block_stream(self.packed, packed_start, packed_end,
                                                        size), size)
        if len(piece) == size and not decoder.eof:  # its output all given, the rest read
            piece += decoder.decompress(b"", 1)
        if len(piece) != size or not decoder.eof:
            raise _Inconsistent()
        self.image[plain_start:plain_end] = piece


def _single_block_stream(packed, start, unpadded_end, size):
    """An .xz stream of one block: ``packed``'s stream header, the block at ``start`` (Unpadded
    Size ``unpadded_end - start``: its header, data and check, without the padding before the
    check), an index saying so and that it holds ``size`` bytes, and a footer (The .xz File
    Format 1.2.1, 2.1.1, 3 and 4)."""
    unpadded = unpadded_end - start
    index = b"\0\1" + _varint_bytes(unpadded) + _varint_bytes(size)
    index += bytes(-len(index) % 4)
    index += crc32(index).to_bytes(4, "little")
    tail = (len(index) // 4 - 1).to_bytes(4, "little") + packed[6:8]
    return b"".join([packed[:XZ_FRAME], packed[start:start + (unpadded + 3) // 4 * 4], index,
                     crc32(tail).to_bytes(4, "little"), tail, b"YZ"])


def _xz_blocks(packed, fewest=1):
    """[(packed start, packed start + Unpadded Size, plain start, plain end)] of each block of
    an .xz file that is one stream and nothing more, read from its index (a block takes its
    Unpadded Size rounded up to 4 bytes: the padding lies before its check); None for any other
    (several streams, padding after one, a damaged footer or index), or one of fewer than
    ``fewest`` blocks (told before the checksums are computed: a tree's build asks about every
    module, most of one block)."""
    if len(packed) < 2 * XZ_FRAME or packed[-2:] != b"YZ" or packed[6:8] != packed[-4:-2]:
        return None
    footer_crc, backward = unpack_from("<II", packed, len(packed) - XZ_FRAME)
    index_start = len(packed) - XZ_FRAME - (backward + 1) * 4
    index = packed[index_start:-XZ_FRAME]
    try:
        count, at = _varint(index, 1)
    except IndexError:
        return None
    if count < fewest or index_start < XZ_FRAME or index[0] != 0 or \
            crc32(packed[-8:-2]) != footer_crc or \
            crc32(packed[6:8]) != unpack_from("<I", packed, 8)[0] or \
            crc32(index[:-4]) != unpack_from("<I", index, len(index) - 4)[0]:
        return None
    blocks, packed_at, plain_at = [], XZ_FRAME, 0
    try:
        for _ in range(min(count, len(index))):
            unpadded, at = _varint(index, at)
            plain, at = _varint(index, at)
            blocks.append((packed_at, packed_at + unpadded, plain_at, plain_at + plain))
            packed_at, plain_at = packed_at + (unpadded + 3) // 4 * 4, plain_at + plain
    except IndexError:
        return None
    return blocks if len(blocks) == count and packed_at == index_start else None


def _varint_bytes(value):
    """A multibyte integer of the .xz format (see _varint)."""
    out = bytearray()
    while value >> 7:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint(data, at):
    """(value, offset after it) of a multibyte integer of the .xz format (7 bits a byte, the
    high bit set on all but the last); IndexError past the end."""
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            return value, at
        shift += 7


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
