"""Opening inputs: only regular files, so that a FIFO, a device or /dev/zero given (or found in
a module tree) is refused at once instead of blocking for ever or reading without end."""

import os
import stat

from .text import is_decimal


def open_regular(path, error):
    """``path`` opened for reading in binary mode; ``error(path, message)`` (an exception) is
    raised when it cannot be opened or is not a regular file. O_NONBLOCK: opening a FIFO with
    no writer would otherwise wait for one; on a regular file the flag changes nothing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise error(path, f"cannot read: {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(path, f"not a regular file ({_kind(mode)})")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


# -- temporary files beside an output -------------------------------------------------------
#
# Outputs are written to a temporary file in the target directory, then renamed into place.
# The temporary name holds the writer's process id, so that when a run is killed (SIGKILL:
# no clean-up can run), the next run writing to the same place removes what it left.

TMP_SUFFIX = ".tmp"


def temp_prefix(path):
    """The prefix of this process's temporary files for output ``path``."""
    return f".{os.path.basename(path)}.{os.getpid()}."


# How a temporary file is opened: made new (never an existing file), not inherited by programs
TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def temporary_name(path):
    """A new temporary file name beside output ``path``, as temp_prefix says. Keep it where
    the clean-up finds it before creating the file (os.open with TEMPORARY_FLAGS): a SIGINT or
    SIGTERM acts at any moment in between (another thread may take it, so blocking it does not
    help), and one landing after the file was made but before its name was kept left the file
    behind. (A name of this process's own: no other process makes or removes it.)"""
    directory = os.path.dirname(os.path.abspath(path))
    return os.path.join(directory, f"{temp_prefix(path)}{os.urandom(6).hex()}{TMP_SUFFIX}")


def refuse_unwritable_output(path, error):
    """Refuse, before any work, an output path that cannot name a file: a directory (an
    existing one, or a name ending in a slash) or a file in a directory that does not exist.
    (Met at the final rename, they ended a whole build, and `-o /tmp` made its temporary in /.)
    ``error(path, message)`` is raised."""
    path = os.fspath(path)
    if path.endswith(os.sep) or os.path.isdir(path):
        raise error(path, "is a directory: give the output file's name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise error(path, f"cannot write: there is no directory {directory}")


def remove_stale_temporaries(path):
    """Remove the temporary files that killed runs left beside output ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale(directory, f".{os.path.basename(path)}.", TMP_SUFFIX)


class WorkDirectory:
    """A private directory ``<prefix><pid>.<random>`` in the system's temporary directory for
    the time of a `with` block, removed at its end; ones that dead runs left (SIGKILL, or a
    signal in the moment between making one and entering the block) are removed first."""

    def __init__(self, prefix):
        self.prefix, self.path = prefix, None

    def __enter__(self):
        import tempfile  # (`try`'s: a conversion makes no directory)
        base = tempfile.gettempdir()
        remove_stale(base, self.prefix)
        self.path = os.path.join(base, f"{self.prefix}{os.getpid()}.{os.urandom(6).hex()}")
        try:
            os.mkdir(self.path, 0o700)
        except BaseException:
            self.path = None
            raise
        return self.path

    def __exit__(self, *_exc):
        if self.path is not None:
            _remove(self.path)
            self.path = None
        return False


def remove_stale(directory, prefix, suffix=""):
    """Remove ``prefix<pid>.*<suffix>`` entries (files or directories) of ``directory`` whose
    process is gone."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)):
            continue
        pid = name[len(prefix):].split(".", 1)[0]
        if is_decimal(pid) and not _alive(int(pid)):
            _remove(os.path.join(directory, name))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def _remove(path):
    import shutil
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    except OSError:
        pass


def output_mode(path):
    """The permission bits a (re)written output gets: the old file's, without set-user-ID and
    set-group-ID (a rewritten file must not keep them), else what a plain write would give."""
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def same_file(a, b):
    """Whether two paths name the same existing file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# -- the point of no return ----------------------------------------------------------------------

_held_mask = None  # the signal mask before hold_interrupts(), while interrupts are held
_may_hold = False  # inside a command run by cli.main, which releases what is held


def hold_interrupts():
    """Called by a symbol database build just before its output is renamed into place: from
    then on the command has done what it was asked (the rest is its report), so SIGINT and
    SIGTERM wait (blocked) until the command ends, which drops them. Otherwise an interrupt in
    the moment after the rename ended the run as 'interrupted' (status 130 or 143) with its
    complete output in place, which make and scripts take for a failed run whose target is up
    to date. Only inside a command cli.main runs (command_done() releases them); a library
    caller's signals are left alone."""
    global _held_mask
    signal = _signal_module()
    if _may_hold and _held_mask is None and hasattr(signal, "pthread_sigmask"):
        _held_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def command_started():
    global _may_hold
    _may_hold = True


def command_done():
    """At the end of a command: interrupts held since its output was renamed into place came
    too late to stop anything, and are dropped; later ones act again."""
    global _held_mask, _may_hold
    _may_hold = False
    if _held_mask is None:
        return
    signal = _signal_module()
    handlers = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT,
                                                                    signal.SIGTERM)}
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, _held_mask)  # pending ones: ignored
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        _held_mask = None


def _signal_module():
    try:
        import _signal as signal  # (see cli.py: `signal` costs an enum per constant)
        signal.pthread_sigmask, signal.SIG_BLOCK  # noqa: B018 (what is used)
    except (ImportError, AttributeError):
        import signal
    return signal
